"""Checkpoints of tensor-parallel runs (docs/checkpoints.md, "Multi-rank checkpoints"), under
`mpirun --oversubscribe` on the tiny model:
- a TP=2 checkpoint holds one shard file per rank, and model.h5's tensors are virtual datasets
  that plain h5py reads (from any working directory) as the concatenation of the shards along
  the split dimension, equal to what a single process exports from the same checkpoint;
- resuming it at TP=2 continues the run bit for bit (each rank reads its own slices);
- a flipped byte in a shard file is exit 2 naming the shard file and the dataset, from
  `checkpoint verify` and from a TP=2 resume; a missing shard file is exit 2 too;
- auto-resume at TP=2 falls back past a checkpoint whose damage only rank 1's slices show.
Resharding (TP=2 x DP=2 -> TP=1, TP=1 -> TP=2) is in test_parallel_tensor.py."""
import glob
import json
import os
import shutil
import struct
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from checkpoint_util import (GATEDLM, checkpoint_dir, data_offset, flip_byte, loss_texts,  # noqa: E402
                             make_shard, run, tensors, work_dir)
from parallel_util import MPI_ENV, mpi_train  # noqa: E402

TENSOR = "model/model.layers.1.self_attn.o_proj.weight"  # split along columns


def read_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    header.pop("__metadata__", None)
    out = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", entry
        begin, end = entry["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(entry["shape"])
    return out


def check_layout(ckpt):
    shard_files = sorted(glob.glob(os.path.join(ckpt, "model-tp*-of-02.h5")))
    assert [os.path.basename(p) for p in shard_files] == \
        ["model-tp00-of-02.h5", "model-tp01-of-02.h5"], os.listdir(ckpt)
    shards = [h5py.File(p, "r") for p in shard_files]
    here = os.getcwd()
    os.chdir("/")  # the virtual datasets name their shard files relative to model.h5
    try:
        whole = tensors(ckpt, "model")
        with h5py.File(os.path.join(ckpt, "model.h5"), "r") as f:
            assert f.attrs["shards"] == 2 and f.attrs["tensor_parallel"] == 2
            split = 0
            for group in ("model", "optimizer/exp_avg", "optimizer/exp_avg_sq"):
                for name, ds in f[group].items():
                    assert ds.is_virtual, name
                    key = f"{group}/{name}"
                    parts = [s[key][()] for s in shards if key in s]
                    if len(parts) == 1:  # replicated: stored once, by shard 0
                        assert key not in shards[1] and np.array_equal(ds[()], parts[0]), key
                        continue
                    axis = [a for a in range(ds.ndim) if parts[0].shape[a] != ds.shape[a]][0]
                    assert np.array_equal(ds[()], np.concatenate(parts, axis)), key
                    split += 1
    finally:
        os.chdir(here)
        for s in shards:
            s.close()
    assert split > 10, split
    # One process reads the same tensors through gatedlm's reader and exports them plainly.
    out = os.path.join(os.path.dirname(os.path.dirname(ckpt)), "export")
    run([GATEDLM, "export", "--checkpoint", ckpt, "--format", "hf", "--out", out])
    exported = read_safetensors(os.path.join(out, "model.safetensors"))
    assert exported.keys() <= whole.keys() and len(exported) > 10, sorted(exported)
    for name, values in exported.items():
        assert values.tobytes() == whole[name].tobytes(), name
    print(f"PASS TP=2 checkpoint: 2 shard files; {split} split virtual datasets equal the "
          f"concatenated shards; {len(exported)} tensors equal a single-process export")


def main():
    tmp = work_dir("checkpoint_shards")
    data = make_shard(os.path.join(tmp, "data.bin"))
    full = os.path.join(tmp, "tp2")
    mpi_train(2, full, data, 3, parallel__tensor=2, checkpoint__interval=2)
    check_layout(checkpoint_dir(full, 2))

    resumed = os.path.join(tmp, "tp2_resumed")
    mpi_train(2, resumed, data, 3, parallel__tensor=2,
              extra=["--resume", checkpoint_dir(full, 2)])
    assert loss_texts(resumed)[3] == loss_texts(full)[3], (loss_texts(resumed), loss_texts(full))
    for group in ("model", "optimizer"):
        a, b = tensors(checkpoint_dir(resumed, 3), group), tensors(checkpoint_dir(full, 3), group)
        assert a.keys() == b.keys() and all(a[k].tobytes() == b[k].tobytes() for k in a), group
    print("PASS TP=2 resumed from its own checkpoint continues bit for bit")

    damaged = os.path.join(tmp, "damaged")
    shutil.copytree(checkpoint_dir(full, 2), damaged)
    shard = os.path.join(damaged, "model-tp01-of-02.h5")
    flip_byte(shard, data_offset(shard, TENSOR) + 101)
    out = run([GATEDLM, "checkpoint", "verify", damaged], check_rc=2)
    line = out.stderr.strip().splitlines()[-1]
    assert shard in line and TENSOR in line and "checksum mismatch" in line, line
    out = mpi_train(2, os.path.join(tmp, "from_damaged"), data, 3, check_rc=2,
                    parallel__tensor=2, extra=["--resume", damaged])
    assert shard in out.stderr and TENSOR in out.stderr and "checksum mismatch" in out.stderr, \
        out.stderr
    os.remove(shard)
    out = run([GATEDLM, "eval", "--checkpoint", damaged, "--data", data, "--batches", "1"],
              check_rc=2, env=MPI_ENV)
    assert shard in out.stderr and "missing" in out.stderr, out.stderr
    print("PASS a flipped byte in a shard file is exit 2 naming it and the dataset (verify, "
          "TP=2 resume); a missing shard file is exit 2")

    # Rank 0 never reads rank 1's piece of o_proj at TP=2: rank 1 finds the damage, and every
    # rank falls back to step 2 together.
    fallback = os.path.join(tmp, "fallback")
    shutil.copytree(full, fallback)
    shard = os.path.join(checkpoint_dir(fallback, 3), "model-tp01-of-02.h5")
    flip_byte(shard, data_offset(shard, TENSOR) + 101)
    out = mpi_train(2, fallback, data, 3, parallel__tensor=2)
    assert any("[rank 1]" in line and "is damaged" in line and shard in line
               for line in out.output.splitlines()), out.output
    assert f"resuming from {checkpoint_dir(fallback, 2)} instead" in out.output, out.output
    assert loss_texts(fallback) == loss_texts(full), (loss_texts(fallback), loss_texts(full))
    print("PASS auto-resume at TP=2 falls back past damage that only rank 1 reads")
    print("all passed")


if __name__ == "__main__":
    main()
