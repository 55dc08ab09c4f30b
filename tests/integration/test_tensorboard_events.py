"""RUN/tb/: TensorBoard event files. Decodes them here with no TensorFlow: TFRecord framing
(length, masked CRC32C of it, data, masked CRC32C of the data) and the Event / Summary /
SessionLog protobufs by their field numbers; checks the checksums and that the scalars equal
metrics.jsonl's. After a lost timeline (the last checkpoint gone, as after kill -9) and a
resume, the new file starts with a SessionLog START, and TensorBoard's purge rule (a START at
step s drops every earlier point with step >= s, event_accumulator.py) leaves each step once;
likewise after a stability rollback within one file."""
import glob
import os
import shutil
import struct
import subprocess

import numpy as np

from sweep_util import ENV, make_shard, metrics, train, train_args, work_dir


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        blob = f.read()
    pos = 0
    while pos < len(blob):
        header = blob[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", blob[pos + 8:pos + 12])
        assert length_crc == masked(header), "length checksum"
        data = blob[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", blob[pos + 12 + length:pos + 16 + length])
        assert data_crc == masked(data), "data checksum"
        yield data
        pos += 16 + length
    assert pos == len(blob), "trailing bytes"


def varint(buf, pos):
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def fields(buf):
    """(field number, wire type, value) of a protobuf message; length-delimited as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            length, pos = varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        yield field, wire, value


def decode_event(data):
    event = {"scalars": {}}
    for field, wire, value in fields(data):
        if field == 1 and wire == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif field == 2 and wire == 0:
            event["step"] = value
        elif field == 3 and wire == 2:
            event["file_version"] = value.decode()
        elif field == 7 and wire == 2:  # SessionLog {status = 1}
            event["session_status"] = dict((f, v) for f, _, v in fields(value)).get(1, 0)
        elif field == 5 and wire == 2:
            for vfield, _, entry in fields(value):
                assert vfield == 1
                tag, simple = None, None
                for efield, ewire, evalue in fields(entry):
                    if efield == 1:
                        tag = evalue.decode()
                    elif efield == 2 and ewire == 5:
                        simple = struct.unpack("<f", evalue)[0]
                event["scalars"][tag] = simple
    return event


SESSION_START = 1


def tensorboard_view(run_dir):
    """tag -> {step: value} as TensorBoard shows it: files in name order, purging on START."""
    shown = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "tb", "events.out.tfevents.*"))):
        for event in map(decode_event, records(path)):
            if event.get("session_status") == SESSION_START:
                for points in shown.values():
                    for step in [s for s in points if s >= event["step"]]:
                        del points[step]
            for tag, value in event["scalars"].items():
                points = shown.setdefault(tag, {})
                assert event["step"] not in points, f"{tag} step {event['step']} shown twice"
                points[event["step"]] = value
    return shown


def test_resume_purges_replayed_steps(tmp, data):
    run = os.path.join(tmp, "resumed")
    train(run, data, 6, checkpoint__interval=4)
    # The timeline after step 4 is lost, as after a kill -9 past the step-4 checkpoint.
    shutil.rmtree(os.path.join(run, "checkpoints", "step_00000006"))
    with open(os.path.join(run, "checkpoints", "latest"), "w") as f:
        f.write("step_00000004\n")
    train(run, data, 10, checkpoint__interval=4)
    files = sorted(glob.glob(os.path.join(run, "tb", "events.out.tfevents.*")))
    assert len(files) == 2, files
    second = [decode_event(r) for r in records(files[1])]
    assert second[1].get("session_status") == SESSION_START and second[1]["step"] == 5, second[1]
    # Without the marker steps 5 and 6 would be there twice (tensorboard_view asserts once).
    shown = tensorboard_view(run)
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    assert shown["train/loss"] == {j["step"]: f32(j["loss"]) for j in metrics(run) if "loss" in j}
    assert sorted(shown["train/loss"]) == list(range(1, 11)), sorted(shown["train/loss"])
    print("tensorboard: resume at 4 wrote SessionLog START at step 5; each step shown once")


def test_rollback_purges_replayed_steps(tmp, data):
    """A NaN loss at step 6 rolls back to the step-4 checkpoint: 5 is logged, then replayed."""
    run = os.path.join(tmp, "rollback")
    proc = subprocess.run(train_args(data, 8, checkpoint__interval=4,
                                     stability__on_nonfinite="rollback") + ["--run-dir", run],
                          env=dict(ENV, GATEDLM_FAULT_NAN_LOSS_STEPS="6"), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [j["to_step"] for j in metrics(run) if j.get("event") == "rollback"] == [4]
    files = glob.glob(os.path.join(run, "tb", "events.out.tfevents.*"))
    assert len(files) == 1, files
    starts = [e["step"] for e in map(decode_event, records(files[0]))
              if e.get("session_status") == SESSION_START]
    assert starts == [5], starts
    shown = tensorboard_view(run)  # asserts every step once
    assert sorted(shown["train/loss"]) == list(range(1, 9)), sorted(shown["train/loss"])
    print("tensorboard: rollback to 4 wrote SessionLog START at step 5; each step shown once")


def main():
    tmp = work_dir("tensorboard")
    try:
        data = make_shard(os.path.join(tmp, "train.bin"))
        run = os.path.join(tmp, "run")
        overrides = dict(train__eval_interval=6, train__analyze_interval=6,
                         train__eval_batches=2, model__attention_gate__position="sdpa")
        overrides["data.val"] = data
        train(run, data, 12, **{k.replace(".", "__"): v for k, v in overrides.items()})
        files = glob.glob(os.path.join(run, "tb", "events.out.tfevents.*"))
        assert len(files) == 1, files
        events = [decode_event(r) for r in records(files[0])]
        assert events[0].get("file_version") == "brain.Event:2", events[0]
        assert all(e["wall_time"] > 1.6e9 for e in events)

        by_tag = {}
        for e in events[1:]:
            for tag, value in e["scalars"].items():
                by_tag.setdefault(tag, {})[e["step"]] = value
        lines = metrics(run)
        f32 = lambda x: float(np.float32(x))  # noqa: E731
        train_lines = [j for j in lines if "loss" in j]
        assert by_tag["train/loss"] == {j["step"]: f32(j["loss"]) for j in train_lines}
        assert by_tag["train/lr"] == {j["step"]: f32(j["lr"]) for j in train_lines}
        assert by_tag["train/grad_norm"] == {j["step"]: f32(j["grad_norm"]) for j in train_lines}
        assert set(by_tag["train/tokens_per_s"]) == set(range(1, 13))
        assert by_tag["val/loss"] == {j["step"]: f32(j["val_loss"]) for j in lines if "val_loss" in j}
        assert set(by_tag["val/loss"]) == {6, 12}
        analysis = [j for j in lines if "first_token_attn" in j]
        for key in ("first_token_attn", "max_act", "gate_score"):
            assert by_tag[f"analysis/{key}"] == {j["step"]: f32(j[key]) for j in analysis}, key
        assert by_tag["analysis/layer_1/first_token_attn"] == {
            j["step"]: f32(j["analysis"][1]["first_token_attn"]) for j in analysis}
        assert set(by_tag["analysis/layer_0/max_act"]) == {6, 12}
        print(f"tensorboard: {len(events)} events, {len(by_tag)} tags, all checksums valid")
        test_resume_purges_replayed_steps(tmp, data)
        test_rollback_purges_replayed_steps(tmp, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
