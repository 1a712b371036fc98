"""Cluster execution on a real single-node SLURM started by this test (as root): the demo pretraining
runs as SLURM jobs through profiles/slurm, with two CPU processes under torchrun; cancelled with
scancel, it resumes from its checkpoint when the workflow runs again.

CI installs Debian's slurm-wlm and munge (.ci/run); elsewhere, without them or without root, these
tests say so and are skipped."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import REPO, snakemake, write_tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    shutil.which("slurmctld") is None or shutil.which("munged") is None or os.geteuid() != 0,
    reason="needs root and Debian's slurm-wlm and munge (installed by .ci/run)",
)]

SLURM_CONF = """\
ClusterName=tests
SlurmctldHost={host}
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmUser=root
SlurmdUser=root
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmdSpoolDir={folder}/slurmd
StateSaveLocation={folder}/state
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ReturnToService=2
# no accounting database: job states come from squeue, which keeps finished jobs for MinJobAge seconds
MinJobAge=3600
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# the node may claim more memory than the test machine has: the profile's defaults ask for 8 GB and more
SlurmdParameters=config_overrides
NodeName={host} CPUs=2 RealMemory=200000 State=UNKNOWN
PartitionName=tests Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


SYSTEM_CONF = Path("/etc/slurm/slurm.conf")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """munged, slurmctld and slurmd on this machine, configured in /etc/slurm/slurm.conf (where the
    jobs' own srun looks: the executor clears SLURM_* variables such as SLURM_CONF inside jobs); an
    existing file there is put back afterwards."""
    folder = tmp_path_factory.mktemp("slurm")
    for sub in ("slurmd", "state"):
        (folder / sub).mkdir()
    backup = folder / "slurm.conf.before"
    if SYSTEM_CONF.exists():
        shutil.copy(SYSTEM_CONF, backup)
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.write_text(SLURM_CONF.format(host=socket.gethostname().split(".")[0], folder=folder))
    started = []
    try:
        # A socket left by a munged that is gone (a restarted machine) is not a running munged: ask it.
        if subprocess.run(["munge", "--no-input"], capture_output=True).returncode != 0:
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            subprocess.run(["munged", "--force"], check=True)
            started.append(Path("/run/munge/munged.pid"))
        subprocess.run(["slurmctld", "-f", str(SYSTEM_CONF)], check=True)
        started.append(folder / "slurmctld.pid")
        subprocess.run(["slurmd", "-f", str(SYSTEM_CONF)], check=True)
        started.append(folder / "slurmd.pid")
        deadline = time.time() + 60
        while "idle" not in subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True).stdout:
            assert time.time() < deadline, (folder / "slurmd.log").read_text()[-2000:]
            time.sleep(1)
        yield folder
    finally:
        subprocess.run(["scancel", "--user", "root"], capture_output=True)
        for pid_file in reversed(started):
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
        if backup.exists():
            shutil.copy(backup, SYSTEM_CONF)
        else:
            SYSTEM_CONF.unlink()


# The profile asks for what a real cluster has; this one-node cluster has 2 CPUs and no GPU.
SMALL_CLUSTER = ["--config", "gpu_jobs=no", "--set-threads", "pretrain=2", "--set-resources", "pretrain:mem_mb=2000",
                 "--slurm-init-seconds-before-status-checks", "2", "--slurm-logdir", "logs/slurm"]
PRETRAINED = "results/models/demo/pretrained/model.safetensors"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The tiny demo up to the speech LM's initialisation, made locally; its recipe pretrains with two
    processes for 30 s, checkpointing every 3 s."""
    workdir = tmp_path_factory.mktemp("cluster_demo")
    config = write_tiny_config(workdir)
    demo = workdir / "recipes" / "demo.yaml"
    recipe = yaml.safe_load(demo.read_text())
    # two processes of 4 chunks each and a global batch of 8: one micro-step per step, so steps are
    # short enough that the run checkpoints several times before it is cancelled
    recipe["pretrain"].update(gpus=2, per_device_batch_size=4, global_batch_size=8, validate_every_minutes=0.05,
                              checkpoint_every_minutes=0.05, budget={"hours": 0.0085, "max_steps": None})
    demo.write_text(yaml.safe_dump(recipe))
    snakemake(workdir, "--cores", "2", "results/models/demo/init/model.safetensors", "results/demo/data.json", configfiles=[config])
    return workdir, config


def run_on_slurm(workdir, config, *targets, wait=True):
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--profile",
               str(REPO / "profiles" / "slurm"), "--configfile", str(config), *SMALL_CLUSTER, *targets]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if wait:
        output = process.communicate(timeout=900)[0]
        return process.returncode, output
    return process


def checkpoint_step(workdir) -> int:
    state = workdir / "results/models/demo/pretrained.work/checkpoint/trainer_state.pt"
    try:
        return torch.load(state, weights_only=True)["state"]["step"] if state.exists() else 0
    except (RuntimeError, EOFError, FileNotFoundError):
        return 0  # caught while it is being replaced


def test_pretraining_runs_on_slurm_and_resumes_after_scancel(cluster, prepared):
    workdir, config = prepared
    first = run_on_slurm(workdir, config, PRETRAINED, wait=False)
    deadline = time.time() + 600
    while checkpoint_step(workdir) < 5:
        assert first.poll() is None, first.stdout.read()
        assert time.time() < deadline, "no checkpoint in 10 minutes"
        time.sleep(1)
    jobs = subprocess.run(["squeue", "--noheader", "--states=RUNNING", "--format=%i %k"], capture_output=True, text=True).stdout
    running = [line.split()[0] for line in jobs.splitlines() if "rule_pretrain" in line]
    assert len(running) == 1, jobs
    subprocess.run(["scancel", running[0]], check=True)
    output = first.communicate(timeout=600)[0]
    assert first.returncode != 0 and not (workdir / PRETRAINED).exists(), output[-3000:]

    code, output = run_on_slurm(workdir, config, PRETRAINED)
    assert code == 0, output[-5000:]
    log = (workdir / "logs/demo/pretrain.log").read_text()
    resumed = re.search(r"resumed from step (\d+)", log)
    assert resumed and int(resumed.group(1)) >= 5, log[-3000:]
    pattern = r"running as SLURM job (\d+) on \S+: \d+ CPU\(s\), no GPU; 2 process\(es\)"
    # The job's log keeps the cancelled attempt, then the one that resumed it.
    jobs_in_log = re.findall(pattern, log)
    assert len(jobs_in_log) == 2 and jobs_in_log[0] == running[0] and jobs_in_log[1] != running[0], log[-3000:]
    resumed_in = jobs_in_log[1:]
    # Each SLURM job's own log (logs/slurm/rule_pretrain/<wildcards>/<job id>.log) shows its id too.
    slurm_logs = {p.stem: p.read_text() for p in (workdir / "logs/slurm/rule_pretrain").rglob("*.log")}
    assert set(slurm_logs) == {running[0], resumed_in[0]}
    assert re.search(pattern, slurm_logs[running[0]]) and "CANCELLED" in slurm_logs[running[0]]
    summary = (workdir / "results/models/demo/pretrained/training_summary.json").read_text()
    assert '"processes": 2' in summary and '"gradient_accumulation": 1' in summary  # 8 chunks = 4 x 2 processes


def test_the_allocation_report_says_what_a_job_got(cluster, prepared):
    workdir, config = prepared
    code, output = run_on_slurm(workdir, config, "results/demo/allocation.json")
    assert code == 0, output[-3000:]
    report = (workdir / "results/demo/allocation.json").read_text()
    assert '"SLURM_JOB_ID"' in report and socket.gethostname().split(".")[0] in report
