"""Operator settings from flags and KUBETUNE_* variables: types, precedence, clear errors."""

from __future__ import annotations

import argparse

import pytest

from kubetune.kube.settings import add_arguments, env_of, flag_of, from_arguments


def parse(*argv: str, **environ: str):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_arguments(parser.parse_args(argv), environ)


def test_flags_and_variables_become_typed_fields() -> None:
    settings = parse(
        "--namespace", "a", "--namespace", "b", "--workers", "3", "--no-leader-election",
        KUBETUNE_STOP_GRACE_SECONDS="2.5", KUBETUNE_KUBECONFIG="/k",
    )  # fmt: skip
    assert settings.namespaces == ("a", "b")
    assert (settings.workers, settings.leader_election) == (3, False)
    assert (settings.stop_grace_seconds, settings.kubeconfig) == (2.5, "/k")


def test_a_flag_wins_over_the_environment() -> None:
    assert parse("--metrics-port", "9000", KUBETUNE_METRICS_PORT="9100").metrics_port == 9000
    assert parse(KUBETUNE_METRICS_PORT="9100").metrics_port == 9100
    assert parse(KUBETUNE_NAMESPACES="a, b,").namespaces == ("a", "b")
    assert parse(KUBETUNE_LEADER_ELECTION="No").leader_election is False


def test_an_unreadable_value_names_the_field() -> None:
    with pytest.raises(ValueError, match="workers: cannot read 'x' as int"):
        parse("--workers", "x")


def test_flag_and_variable_names_derive_from_the_field() -> None:
    assert (flag_of("metrics_port"), env_of("metrics_port")) == (
        "--metrics-port",
        "KUBETUNE_METRICS_PORT",
    )
