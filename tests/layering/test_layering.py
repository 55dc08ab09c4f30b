#!/usr/bin/env python3
"""ctest: the source tree's includes go down the layer order, and the checker catches a planted
up-include (an include of train/ from model/) and a folder without its mirror."""
import pathlib
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHECKER = HERE / "check_layering.py"


def run(root):
    return subprocess.run([sys.executable, str(CHECKER), str(root)], capture_output=True,
                          text=True)


def copy_tree(into):
    for top in ("src", "include"):
        shutil.copytree(ROOT / top, into / top)


def main():
    clean = run(ROOT)
    assert clean.returncode == 0, "the source tree breaks the layering:\n" + clean.stdout
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        copy_tree(tmp)
        victim = tmp / "src" / "model" / "attention.cpp"
        lines = victim.read_text().splitlines(keepends=True)
        lines.insert(1, '#include "gatedlm/train/trainer.h"\n')  # becomes line 2
        victim.write_text("".join(lines))
        planted = run(tmp)
        assert planted.returncode == 1, planted.stdout
        assert "src/model/attention.cpp:2: 'model' includes 'train'" in planted.stdout, \
            planted.stdout
        (tmp / "src" / "extra").mkdir()
        (tmp / "src" / "extra" / "thing.cpp").write_text("")
        orphan = run(tmp)
        assert "src/extra: has no mirror" in orphan.stdout, orphan.stdout
        assert "area 'extra' is not in the layer order" in orphan.stdout, orphan.stdout
    print("layering: clean tree passes; planted up-include and unmirrored folder are caught")


if __name__ == "__main__":
    main()
