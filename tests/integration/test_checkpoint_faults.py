"""Faults: a flipped byte in a dataset or a truncated model.h5 is exit 2 naming the file and the
dataset, and auto-resume falls back to the newest valid checkpoint with a warning; a failed write
(`ulimit -f`, an unwritable checkpoints directory) is a clear error (exit 1) that leaves the
previous checkpoint intact, and with checkpoint.on_write_failure=continue training goes on."""
import os
import resource
import shutil
import subprocess

from checkpoint_util import (ENV, checkpoint_dir, data_offset, flip_byte, latest_dir, loss_texts,
                             make_shard, train, train_args, verify, work_dir)

TENSOR = "model/model.layers.1.mlp.up_proj.weight"


def test_flipped_byte(tmp, data, source):
    run_dir = os.path.join(tmp, "flipped")
    shutil.copytree(source, run_dir)
    h5 = os.path.join(checkpoint_dir(run_dir, 6), "model.h5")
    flip_byte(h5, data_offset(h5, TENSOR) + 1001)

    out = verify(run_dir, check_rc=2)
    line = out.stderr.strip().splitlines()[-1]
    assert h5 in line and TENSOR in line and "checksum mismatch" in line, line
    assert f"FAILED {TENSOR}" in out.stdout, out.stdout
    verify(checkpoint_dir(run_dir, 4))

    # Naming the damaged checkpoint is an error; auto-resume falls back to step 4 and warns.
    out = train(run_dir, data, 8, check_rc=2, extra=["--resume", checkpoint_dir(run_dir, 6)],
                checkpoint__interval=2)
    assert TENSOR in out.stderr and h5 in out.stderr, out.stderr
    out = train(run_dir, data, 8, checkpoint__interval=2)
    assert "is damaged" in out.output and TENSOR in out.output, out.output
    assert f"resuming from {checkpoint_dir(run_dir, 4)} instead" in out.output, out.output
    assert "at step 4" in out.output
    # Steps 5 and 6 of the lost timeline leave metrics.jsonl; the resumed run logs them again.
    assert "dropped 2 lines logged after step 4" in out.output, out.output
    assert sorted(loss_texts(run_dir)) == list(range(1, 9))
    verify(run_dir)  # step 6 was written again, then 8
    verify(checkpoint_dir(run_dir, 6))


def test_truncated_file(tmp, data, source):
    run_dir = os.path.join(tmp, "truncated")
    shutil.copytree(source, run_dir)
    h5 = os.path.join(checkpoint_dir(run_dir, 6), "model.h5")
    os.truncate(h5, os.path.getsize(h5) // 2)
    out = verify(run_dir, check_rc=2)
    assert h5 in out.stderr and "truncated" in out.stderr, out.stderr
    out = train(run_dir, data, 8, check_rc=2, extra=["--resume", h5])
    assert h5 in out.stderr, out.stderr
    out = train(run_dir, data, 8, checkpoint__interval=2)
    assert "is damaged" in out.output and "at step 4" in out.output, out.output


def limited_file_size(limit_bytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.RLIM_INFINITY))
    return apply


def test_file_size_limit(tmp, data, source):
    model_bytes = os.path.getsize(os.path.join(checkpoint_dir(source, 6), "model.h5"))
    for policy in ("stop", "continue"):
        run_dir = os.path.join(tmp, f"ulimit_{policy}")
        shutil.copytree(source, run_dir)
        args = train_args(data, 10, checkpoint__interval=2,
                          checkpoint__on_write_failure=policy) + ["--run-dir", run_dir]
        out = subprocess.run(args, env=ENV, capture_output=True, text=True,
                             preexec_fn=limited_file_size(model_bytes // 2))
        output = out.stdout + out.stderr
        assert out.returncode == 1, f"exit {out.returncode}\n{output}"
        error = out.stderr.strip().splitlines()[-1]
        assert error.startswith("error: cannot write checkpoint") and "File too large" in error, \
            error
        assert "earlier checkpoints are intact" in error
        assert os.path.basename(latest_dir(run_dir)) == "step_00000006"
        verify(run_dir)
        steps = max(loss_texts(run_dir))
        if policy == "stop":
            assert "step_00000008" in error and steps == 8, (error, steps)
        else:
            assert "training continues" in output and steps == 10, steps
        assert not [n for n in os.listdir(os.path.join(run_dir, "checkpoints"))
                    if n.startswith(".tmp")]


def test_unwritable_directory(tmp, data, source):
    run_dir = os.path.join(tmp, "readonly")
    shutil.copytree(source, run_dir)
    root = os.path.join(run_dir, "checkpoints")
    args = train_args(data, 8, checkpoint__interval=2) + ["--run-dir", run_dir]
    if os.geteuid() == 0:
        # root writes anywhere: train as `nobody`, who owns the run but not its checkpoints/.
        # nobody may not reach the checkout (a `mktemp -d` clone is mode 0700): it runs copies of
        # the binary and the config from the temp dir, which work_dir makes readable.
        nobody = 65534
        binary, config = os.path.join(tmp, "gatedlm"), os.path.join(tmp, "dense-tiny.yaml")
        shutil.copy(args[0], binary)
        shutil.copy(args[2], config)
        args[0], args[2] = binary, config
        for dirpath, dirnames, filenames in os.walk(run_dir):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), nobody, nobody)
        os.chown(run_dir, nobody, nobody)
        os.chown(root, 0, 0)
        args = ["setpriv", f"--reuid={nobody}", f"--regid={nobody}", "--clear-groups"] + args
    os.chmod(root, 0o555)
    out = subprocess.run(args, env=ENV, capture_output=True, text=True)
    os.chmod(root, 0o755)
    output = out.stdout + out.stderr
    assert out.returncode == 1, f"exit {out.returncode}\n{output}"
    error = out.stderr.strip().splitlines()[-1]
    assert "cannot write checkpoint" in error and "Permission denied" in error, error
    assert os.path.basename(latest_dir(run_dir)) == "step_00000006"
    verify(run_dir)


def main():
    tmp = work_dir("faults")
    try:
        data = make_shard(os.path.join(tmp, "train.bin"))
        source = os.path.join(tmp, "source")
        train(source, data, 6, checkpoint__interval=2)  # checkpoints 2, 4, 6
        test_flipped_byte(tmp, data, source)
        test_truncated_file(tmp, data, source)
        test_file_size_limit(tmp, data, source)
        if shutil.which("setpriv") or os.geteuid() != 0:
            test_unwritable_directory(tmp, data, source)
        else:
            print("skipped the unwritable-directory case: running as root without setpriv")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
