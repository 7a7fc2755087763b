"""The docs build's own extensions: error index from the source, shell blocks run as tnkit."""

import os
import sys

import pytest

pytest.importorskip("sphinx")
DOCS_EXT = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "_ext")
sys.path.insert(0, os.path.abspath(DOCS_EXT))

import error_index  # noqa: E402
import exec_blocks  # noqa: E402
import tnkit_refs  # noqa: E402


def test_error_index_reads_messages(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text(
        "def f(x):\n"
        "    if x < 0:\n"
        "        raise ValueError(f'x must be >= 0, got {x!r}')\n"
        "    raise TypeError('plain ' + 'message')\n"
        "class C:\n"
        "    def g(self):\n"
        "        raise KeyError(name)\n"
    )
    rows = error_index.messages(str(src))
    assert rows == [
        ("ValueError", "x must be >= 0, got {x}", "f"),
        ("TypeError", "plain message", "f"),
    ]


def test_error_index_finds_real_messages():
    import tnkit.network_ops as network_ops

    rows = error_index.messages(network_ops.__file__)
    assert ("ValueError", "contract_nodes needs two different nodes") in {r[:2] for r in rows}


def test_shell_blocks_run_only_tnkit_commands():
    cmds = exec_blocks._commands("$ tnkit info net.npz\n# comment\ntnkit draw a.npz -o 'b c.png'\n")
    assert [c[3:] for c in cmds] == [["info", "net.npz"], ["draw", "a.npz", "-o", "b c.png"]]
    assert cmds[0][:3] == [sys.executable, "-m", "tnkit.cli"]
    assert exec_blocks._commands("pip install tnkit\ntnkit info x") is None
    assert exec_blocks._commands("# only a comment") is None


def test_python_blocks_share_a_namespace_and_report_errors():
    ns = {}
    assert exec_blocks._run_python("a = 2", ns) is None
    assert exec_blocks._run_python("b = a * 3", ns) is None and ns["b"] == 6
    assert "ZeroDivisionError" in exec_blocks._run_python("1 / 0", ns)


def test_doctest_blocks():
    ns = {}
    assert exec_blocks._run_doctest(">>> 1 + 1\n2\n", ns, "t") is None
    assert "Expected" in exec_blocks._run_doctest(">>> 1 + 1\n3\n", ns, "t")
    assert exec_blocks._run_doctest(">>> 1 / 0  # doctest: +SKIP\n", ns, "t") is None


def test_references_resolve_to_where_objects_are_defined():
    assert tnkit_refs._canonical("tnkit.TT") == "tnkit.formats.tt.TT"
    assert tnkit_refs._canonical("tnkit.tt") == "tnkit.decompose.tt.tt"
    assert tnkit_refs._canonical("tnkit.linalg") == "tnkit.linalg"
    assert tnkit_refs._canonical("tnkit.TensorNetwork.open_legs") == (
        "tnkit.network.TensorNetwork.open_legs"
    )
    assert tnkit_refs._canonical("tnkit.no_such_function") is None
    assert tnkit_refs._canonical("tnkit.formats.tt.TT.no_such_method") is None


def test_continuation_lines_join():
    cmds = exec_blocks._commands("tnkit draw a.npz \\\n    -o b.png\n")
    assert [c[3:] for c in cmds] == [["draw", "a.npz", "-o", "b.png"]]
    assert exec_blocks._commands("tnkit info 'unclosed\n") is None
