"""The training benchmark's precision: bfloat16 instructions read from /proc/cpuinfo, and each precision
given to the engine and the official way alike."""

import pytest
import torch

from benchmarking.training import (
    PRECISIONS,
    cpu_bfloat16,
    default_precision,
    describe_precision,
    engine_precision,
    official_precision,
)
from slamming.training.engine import Precision

EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 avx f16c avx2 vaes vpclmulqdq rdpid fsrm
"""
SAPPHIRE_RAPIDS = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
ZEN4 = "flags\t\t: avx2 avx512f avx512bw avx512_bf16\n"
AVX512_ONLY = "flags\t\t: avx2 avx512f avx512bw avx512_vnni\n"  # converts to bfloat16, computes in float32
GRAVITON3 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm sve svebf16 i8mm bf16
"""
GRAVITON2 = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid\n"


@pytest.mark.parametrize("cpuinfo, expected", [(EPYC_AVX2, False), (SAPPHIRE_RAPIDS, True), (ZEN4, True),
                                               (AVX512_ONLY, False), (GRAVITON3, True), (GRAVITON2, False), ("", False)])
def test_cpu_bfloat16_reads_the_flags(cpuinfo, expected):
    assert cpu_bfloat16(cpuinfo) is expected


def test_cpu_bfloat16_ignores_bf16_outside_the_flags():
    assert not cpu_bfloat16("model name\t: bf16 avx512_bf16 test rig\nflags\t\t: avx2\n")
    assert not cpu_bfloat16("Features\t: fp asimd svebf16\n")  # SVE's bfloat16 alone is another feature's name


def test_cpu_bfloat16_of_this_machine_is_a_bool():
    assert isinstance(cpu_bfloat16(), bool)


def test_default_precision():
    assert default_precision(cuda=True, cuda_bfloat16=True, cpu_has_bfloat16=False) == "pure"
    assert default_precision(cuda=True, cuda_bfloat16=False, cpu_has_bfloat16=True) == "float32"
    assert default_precision(cuda=False, cuda_bfloat16=False, cpu_has_bfloat16=True) == "pure"
    assert default_precision(cuda=False, cuda_bfloat16=False, cpu_has_bfloat16=False) == "float32"


@pytest.mark.parametrize("precision, weights, autocast", [("pure", torch.bfloat16, False), ("mixed", torch.float32, True),
                                                          ("float32", torch.float32, False)])
def test_the_engine_gets_the_precision(precision, weights, autocast):
    engine = Precision.of(engine_precision(precision), torch.device("cpu"))
    assert engine.weights == weights
    assert (engine.autocast == torch.bfloat16) is autocast


@pytest.mark.parametrize("precision", PRECISIONS)
def test_both_ways_train_at_the_same_precision(precision):
    engine = Precision.of(engine_precision(precision), torch.device("cpu"))
    weights, bf16 = official_precision(precision)
    assert weights == engine.weights  # the model's dtype, and so the AdamW states'
    assert bf16 == (engine.compute == torch.bfloat16)  # bfloat16 compute: Trainer's bf16=True
    if precision != "pure":  # pure: the official way's autocast over bfloat16 weights, the engine's none
        assert describe_precision(weights, bf16) == engine.describe()
