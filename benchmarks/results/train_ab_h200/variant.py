"""Run benchmarks/train_profile.py with experimental patches named in $PATCH (comma-separated)."""
import runpy, sys
sys.path.insert(0, "devrun")
import tpatches
print("patches:", sorted(tpatches.PATCHES), flush=True)
sys.argv = ["benchmarks/train_profile.py", *sys.argv[1:]]
runpy.run_path("benchmarks/train_profile.py", run_name="__main__")
