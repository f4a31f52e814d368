"""The pinned environment: what `make` installs is what the lock file says."""

import re
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "requirements" / "lock.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_rliable_library_imports_with_the_pinned_pandas():
    # pandas 3 breaks arch 7.2, which rliable.library imports at module level
    import pandas
    import rliable.library  # noqa: F401

    assert int(pandas.__version__.split(".")[0]) < 3


def test_the_key_packages_are_the_pinned_versions():
    pins = _pins()
    for pkg in ("torch", "gymnasium", "ale-py", "snakemake", "snakemake-executor-plugin-slurm", "rliable",
                "pandas", "arch", "numpy", "matplotlib", "opencv-python-headless"):
        assert pkg in pins, f"{pkg} is not pinned in {LOCK.name}"
        installed = metadata.version(pkg).split("+")[0]  # torch's local label (+cpu) is the build, not the version
        assert installed == pins[pkg], f"{pkg} {installed} installed, {pins[pkg]} pinned"


def test_the_conda_environment_pins_the_lock_file_versions():
    """workflow/envs/spirl.yaml (for --software-deployment-method conda) repeats the lock file's pins exactly."""
    import yaml

    env = yaml.safe_load((LOCK.parents[1] / "workflow" / "envs" / "spirl.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = _pins()
    assert len(pip) >= 10
    for line in pip:
        name, version = line.split("==")
        key = name.lower().replace("_", "-")
        assert pins.get(key) == version, f"workflow/envs/spirl.yaml pins {name}=={version}, lock.txt {pins.get(key)}"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python == "python=3.11"
