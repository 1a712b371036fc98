"""What a job really got: host, SLURM ids, CPUs, GPUs. Logged by the training jobs, and written by
the rule allocation_report (``workflow_scripts/allocation_report.py``)."""

from __future__ import annotations

import os
import socket

SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_JOB_PARTITION", "SLURM_JOB_NODELIST", "SLURM_STEP_ID",
                   "SLURM_CPUS_ON_NODE", "SLURM_GPUS", "SLURM_JOB_GPUS", "SLURM_RESTART_COUNT")


def describe_allocation() -> dict:
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {
        "host": socket.gethostname(),
        "slurm": {name: os.environ[name] for name in SLURM_VARIABLES if name in os.environ},
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpus": gpus,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "torchrun": {name: os.environ[name] for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK") if name in os.environ},
    }


def one_line(allocation: dict) -> str:
    """One line for a log: where the job runs and with what."""
    slurm = allocation["slurm"]
    where = f"SLURM job {slurm['SLURM_JOB_ID']} on {allocation['host']}" if "SLURM_JOB_ID" in slurm else f"host {allocation['host']}"
    gpus = f"{len(allocation['gpus'])} GPU(s) ({', '.join(sorted(set(allocation['gpus'])))})" if allocation["gpus"] else "no GPU"
    return f"{where}: {allocation['cpus']} CPU(s), {gpus}"
