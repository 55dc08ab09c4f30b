"""gatedlm sweep --executor slurm against a real single-node Slurm (Debian slurm-wlm + munge)
started here on loopback, all its state in a temporary directory (recipe:
../shared/notes/slurm-single-node.md). A 3-run sweep is submitted as a job array; one task's
training is killed (SIGKILL) midway; the others finish; rerunning the same command submits only
the killed run, which resumes from its checkpoint. Then a staged sweep: its second stage is
submitted as a second array held with --dependency=afterok on the first stage's task, resumes
from that task's checkpoint and runs its evaluations. Last, `srun -n 2 --mpi=pmix gatedlm train`
matches `mpirun -np 2`. The daemons are stopped by PID at the end.
Skips, saying why, where Slurm cannot run (not installed, not root)."""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from checkpoint_util import loss_texts, train_args
from parallel_util import BASE, MPI_ENV, mpi_train
from sweep_util import ENV, GATEDLM, make_shard, train_losses, work_dir, write_spec

DAEMONS = ("munged", "slurmctld", "slurmd")
STEPS = 120


def skip(why):
    print(f"SKIPPED: {why}")
    sys.exit(77)  # ctest: skipped, not passed


def free_port_pair(seed):
    """Two consecutive free loopback ports, derived from the temp dir so runs do not collide."""
    base = 20000 + int(hashlib.sha1(seed.encode()).hexdigest(), 16) % 30000
    for offset in range(0, 400, 2):
        ports = (base + offset, base + offset + 1)
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return ports
        except OSError:
            continue
    raise RuntimeError("no free ports")


SLURM_CONF = """ClusterName=gatedlmtest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={s}/munge/munge.sock
StateSaveLocation={s}/state
SlurmdSpoolDir={s}/spool
SlurmctldPidFile={s}/slurmctld.pid
SlurmdPidFile={s}/slurmd.pid
SlurmctldLogFile={s}/log/slurmctld.log
SlurmdLogFile={s}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
PlugStackConfig={s}/plugstack.conf
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


class Slurm:
    def __init__(self, root):
        self.s = root
        self.env = dict(ENV, SLURM_CONF=os.path.join(root, "slurm.conf"))

    def pid_files(self):
        return {"munged": f"{self.s}/munge/munged.pid", "slurmctld": f"{self.s}/slurmctld.pid",
                "slurmd": f"{self.s}/slurmd.pid"}

    def start(self):
        s = self.s
        for d in ("munge", "state", "spool", "log"):
            os.makedirs(os.path.join(s, d), exist_ok=True)
        os.chmod(os.path.join(s, "munge"), 0o755)  # 0700 makes munged refuse the socket dir
        key = os.path.join(s, "munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        open(os.path.join(s, "plugstack.conf"), "w").close()
        ctld_port, slurmd_port = free_port_pair(s)
        with open(self.env["SLURM_CONF"], "w") as f:
            f.write(SLURM_CONF.format(host=socket.gethostname().split(".")[0], s=s,
                                      ctld_port=ctld_port, slurmd_port=slurmd_port))
        subprocess.run(["munged", f"--key-file={key}", f"--socket={s}/munge/munge.sock",
                        f"--pid-file={s}/munge/munged.pid", f"--log-file={s}/munge/munged.log",
                        f"--seed-file={s}/munge/munged.seed"], check=True, env=self.env)
        subprocess.run(["slurmctld", "-f", self.env["SLURM_CONF"]], check=True, env=self.env)
        self.wait_for(lambda: self.run("scontrol", "ping").returncode == 0, "slurmctld")
        subprocess.run(["slurmd", "-f", self.env["SLURM_CONF"]], check=True, env=self.env)
        self.wait_for(lambda: self.run("sinfo", "-h", "-o", "%T").stdout.strip() == "idle",
                      "the node to become idle")

    def run(self, *args):
        return subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=30)

    def wait_for(self, ready, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}:\n{self.logs()}")

    def logs(self):
        text = ""
        for name in ("slurmctld.log", "slurmd.log"):
            path = os.path.join(self.s, "log", name)
            if os.path.exists(path):
                with open(path) as f:
                    text += f"--- {name}\n" + "".join(f.readlines()[-20:])
        return text

    def stop(self):
        """Stops the daemons this test started, by the PIDs in their pid files."""
        for name in reversed(DAEMONS):
            path = self.pid_files()[name]
            try:
                with open(path) as f:
                    pid = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def job_states(self, job_id):
        """Task id -> state for the tasks of a job array that slurmctld still knows."""
        out = self.run("scontrol", "-o", "show", "job", job_id).stdout
        states = {}
        for line in out.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            states[fields.get("ArrayTaskId")] = fields.get("JobState")
        return states

    def wait_job(self, job_id, timeout=120):
        self.wait_for(lambda: self.run("squeue", "-h", "-j", job_id).stdout.strip() == "",
                      f"job {job_id} to end", timeout)


def train_pid(run_dir):
    """The PID of the `gatedlm train` process training run_dir (found by its exact arguments)."""
    config = os.path.join(run_dir, "config.yaml")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if len(args) > 2 and args[1] == b"train" and args[2] == config.encode():
            return int(entry)
    return None


def sweep(slurm, *args):
    """gatedlm sweep ARGS with this Slurm's config; its stdout and stderr together."""
    proc = subprocess.run([GATEDLM, "sweep", *args], env=slurm.env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def submit(spec, slurm):
    text = sweep(slurm, spec, "--executor", "slurm")
    job = [line.split()[-1] for line in text.splitlines() if line.startswith("job id:")]
    assert job, text
    return job[0], text


STAGES = """stages:
  short: {set: {train.steps: 8}}
  long:
    resume_from: short
    set: {train.steps: 12, train.seq_len: 32, model.rope_theta: 100000}
    evaluate: {seq_len_multiples: [1, 2], buckets: 2, tokens: 128,
               settings: {plain: {}, yarn: {model.rope_scaling: {type: yarn}}}}
"""


def check_staged(slurm, tmp, data):
    """5. Two stages, two arrays: the second waits (afterok) for the first's task."""
    out = os.path.join(tmp, "staged")
    spec = write_spec(os.path.join(tmp, "staged.yaml"), data,
                      f"out_dir: {out}\n{STAGES}slurm: {{cpus_per_task: 1, time: '00:10:00'}}\n",
                      steps=8, interval=0)
    text = sweep(slurm, spec, "--executor", "slurm")
    jobs = [line.split()[-1] for line in text.splitlines() if line.startswith("job id:")]
    assert len(jobs) == 2, text
    with open(os.path.join(out, "slurm", "jobs.jsonl")) as f:
        records = [json.loads(line) for line in f]
    assert [r["runs"] for r in records] == [["short"], ["long"]], records
    assert records[1]["dependency"] == f"afterok:{jobs[0]}_0", records
    with open(records[1]["script"]) as f:
        assert f"#SBATCH --dependency=afterok:{jobs[0]}_0\n" in f.read()
    shown = slurm.run("scontrol", "-o", "show", "job", jobs[1]).stdout
    assert f"Dependency=afterok:{jobs[0]}_0" in shown or "Dependency=(null)" in shown, shown
    slurm.wait_job(jobs[0])
    slurm.wait_job(jobs[1])
    assert slurm.job_states(jobs[1]).get("0") == "COMPLETED", slurm.job_states(jobs[1])
    with open(os.path.join(out, "long", "train.log")) as f:
        log = f.read()
    assert f"resuming from {out}/short/checkpoints/step_00000008" in log, log
    assert "resuming with model.rope_theta 10000 -> 100000" in log, log
    assert "resuming with train.seq_len 16 -> 32" in log, log
    assert sorted(train_losses(os.path.join(out, "long"))) == list(range(9, 13))
    for name in ("plain-32", "plain-64", "yarn-32", "yarn-64"):
        with open(os.path.join(out, "long", "evals", name + ".json")) as f:
            result = json.load(f)
        assert len(result["position_buckets"]) == 2, result
    status = sweep(slurm, spec, "--status")
    assert "2 runs: 2 done" in status and "4 evaluations: 4 written" in status, status


def check_srun(slurm, tmp, data):
    """`srun -n 2 --mpi=pmix gatedlm train` (ranks from PMIx, docs/parallelism.md) trains the
    same data-parallel run as `mpirun -np 2`: the same ranks and the same MPI reductions, so the
    logged losses are identical text."""
    srun_dir, mpirun_dir = os.path.join(tmp, "srun"), os.path.join(tmp, "mpirun")
    args = train_args(data, 4, **BASE) + ["--run-dir", srun_dir]
    proc = subprocess.run(["srun", "-n", "2", "--mpi=pmix", *args],
                          env=dict(slurm.env, **MPI_ENV), capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 process(es), tensor parallel 1, data parallel 2" in proc.stdout, proc.stdout
    mpi_train(2, mpirun_dir, data, 4)
    assert loss_texts(srun_dir) == loss_texts(mpirun_dir) and len(loss_texts(srun_dir)) == 4, \
        (loss_texts(srun_dir), loss_texts(mpirun_dir))


def main():
    missing = [d for d in DAEMONS + ("sbatch", "squeue", "scontrol", "srun", "flock")
               if shutil.which(d) is None]
    if missing:
        skip(f"Slurm is not installed (missing {', '.join(missing)}; Debian: slurm-wlm munge)")
    if os.geteuid() != 0:
        skip("starting slurmd and munged here needs root")
    tmp = work_dir("slurm")
    slurm = Slurm(os.path.join(tmp, "s"))
    try:
        slurm.start()
        data = make_shard(os.path.join(tmp, "train.bin"))
        out = os.path.join(tmp, "out")
        spec = write_spec(os.path.join(tmp, "spec.yaml"), data,
                          f"out_dir: {out}\ngrid: {{optimizer.lr: [1.0e-3, 2.0e-3, 3.0e-3]}}\n"
                          "slurm: {cpus_per_task: 1, time: '00:10:00', signal_before_s: 30}\n",
                          steps=STEPS, interval=0)
        runs = [os.path.join(out, n) for n in ("lr-1.0e-3", "lr-2.0e-3", "lr-3.0e-3")]

        # 1. Submit: one array of three tasks.
        job, text = submit(spec, slurm)
        assert "3 runs" in text, text
        with open(os.path.join(out, "slurm", "jobs.jsonl")) as f:
            assert json.loads(f.readline())["job_id"] == job

        # 2. Kill the first run's training midway (after a checkpoint), as a node failure would.
        victim = runs[0]
        slurm.wait_for(lambda: os.path.exists(os.path.join(victim, "checkpoints", "latest")),
                       "the first checkpoint", timeout=120)
        pid = train_pid(victim)
        assert pid, "the training process of the first run was not found"
        os.kill(pid, signal.SIGKILL)
        killed_at = max(train_losses(victim))
        assert killed_at < STEPS, "the run finished before it was killed"

        # 3. Wait; the others finished, the killed one is failed.
        slurm.wait_job(job)
        states = slurm.job_states(job)
        assert states.get("1") == "COMPLETED" and states.get("2") == "COMPLETED", states
        assert states.get("0") == "FAILED", states
        for run in runs[1:]:
            assert os.path.exists(os.path.join(run, "done.json")), run
            assert sorted(train_losses(run)) == list(range(1, STEPS + 1)), run
        with open(os.path.join(victim, "failed.json")) as f:
            assert json.load(f)["exit_code"] == 137
        status = sweep(slurm, spec, "--status")
        assert "3 runs: 2 done, 0 running, 1 failed, 0 pending" in status, status

        # 4. The same command again: only the killed run is submitted, and it resumes.
        job2, text = submit(spec, slurm)
        assert job2 != job and "1 runs (2 already done)" in text, text
        slurm.wait_job(job2)
        assert slurm.job_states(job2).get("0") == "COMPLETED", slurm.job_states(job2)
        with open(os.path.join(victim, "train.log")) as f:
            log = f.read()
        assert "resuming from" in log, log
        assert sorted(train_losses(victim)) == list(range(1, STEPS + 1))
        status = sweep(slurm, spec, "--status")
        assert "3 runs: 3 done" in status, status
        text = sweep(slurm, spec, "--executor", "slurm")
        assert "nothing to submit (3 of 3 runs done)" in text, text
        check_staged(slurm, tmp, data)
        check_srun(slurm, tmp, data)
        print("sweep slurm: all checks passed")
    except AssertionError:
        print(slurm.logs())
        raise
    finally:
        slurm.stop()  # 5. by PID
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
