"""``python -m uniclass_lab bench`` argument handling (no benchmark runs here)."""

from __future__ import annotations

import pytest

from uniclass_lab import cli


def test_bench_needs_a_benchmark_name(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["bench"])
    assert "labels" in capsys.readouterr().err


def test_bench_subcommands_share_the_common_options() -> None:
    parser = cli._build_parser()
    for name in ("labels", "official", "efficiency"):
        args = parser.parse_args(["bench", name, "--quick", "--threads", "3", "--batch-size", "8", "--out", "x"])
        assert (args.benchmark, args.threads, args.batch_size, args.out, args.quick) == (name, 3, 8, "x", True)


def test_bad_values_are_one_line_errors(capsys) -> None:
    assert cli.main(["bench", "labels", "--batch-size", "0"]) == 2
    assert "batch-size" in capsys.readouterr().err
    assert cli.main(["bench", "labels", "--threads", "0", "--models", "uni"]) == 2
    assert "threads" in capsys.readouterr().err


def test_quick_grids_are_tiny() -> None:
    from uniclass_lab.bench import efficiency, labels, official

    parser = cli._build_parser()
    setup = labels.setup_from_args(parser.parse_args(["bench", "labels", "--quick"]))
    assert setup.lengths == labels.QUICK_LENGTHS and setup.label_counts == labels.QUICK_LABEL_COUNTS and setup.repeats == 1
    full = labels.setup_from_args(parser.parse_args(["bench", "labels"]))
    assert full.lengths == (64, 256, 512) and full.label_counts == (1, 2, 4, 8, 16, 32, 64, 128) and full.threads == 2
    assert official.setup_from_args(parser.parse_args(["bench", "official", "--quick"])).texts == 4
    assert efficiency.setup_from_args(parser.parse_args(["bench", "efficiency", "--quick"])).matmul_sizes == (256,)
