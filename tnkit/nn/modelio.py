"""Load models without unpickling and save compressed ones.

Accepted inputs (nothing here ever runs ``pickle`` on a user file):

* a ``torch.export`` archive (``torch.export.save``; read with ``torch.export.load``): its
  graph's ``aten.linear`` / ``aten.convNd`` calls are turned back into ``nn.Linear`` /
  ``nn.ConvNd`` modules so that they can be compressed;
* a TorchScript archive (``torch.jit.save``) or a state dict (``torch.save(model.state_dict())``,
  read with ``weights_only=True``), together with ``factory="package.module:function"``, a
  function that builds the architecture; the weights are loaded into it.
"""

from __future__ import annotations

import importlib
import os
import pickle
import zipfile

import torch
from torch import fx, nn

_CONV_OPS = {"conv1d": 1, "conv2d": 2, "conv3d": 3}


def archive_kind(path: str) -> str:
    """``"export"``, ``"torchscript"`` or ``"state_dict"`` (from the zip archive's members)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a zip archive; accepted: torch.export (.pt2), TorchScript, or a state"
            " dict saved by torch.save (legacy non-zip pickles would need unpickling)"
        )
    names = zipfile.ZipFile(path).namelist()
    if any(n.endswith("/archive_format") for n in names):
        return "export"
    if any("/code/" in n for n in names):
        return "torchscript"
    return "state_dict"


def load_factory(spec: str):
    """The callable named by ``"package.module:function"``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"factory must look like 'package.module:function', got {spec!r}")
    factory = getattr(importlib.import_module(module_name), attr, None)
    if not callable(factory):
        raise ValueError(f"factory {spec!r} is not a callable")
    return factory


def load_model(path: str, factory: str | None = None) -> tuple[nn.Module, tuple | None]:
    """The model in ``path`` (see the module docstring) and, for export archives, an example
    input (random, with the exported input's shape and dtype)."""
    kind = archive_kind(path)
    if kind == "export":
        program = torch.export.load(path)
        return modules_from_graph(program.module()), _example_inputs(program)
    if factory is None:
        raise ValueError(f"{path} holds only weights ({kind}); give --factory module:function")
    if kind == "torchscript":
        state = torch.jit.load(path, map_location="cpu").state_dict()
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise ValueError(
                f"{path} is not a plain state dict (loading it would need unpickling): {err}"
            ) from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict (a mapping name -> tensor)")
    model = load_factory(factory)()
    if not isinstance(model, nn.Module):
        raise TypeError(f"factory {factory!r} returned {type(model).__name__}, not an nn.Module")
    model.load_state_dict(state)
    return model, None


def _example_inputs(program) -> tuple:
    specs = program.graph_signature.user_inputs
    vals = {n.name: n.meta.get("val") for n in program.graph.nodes if n.op == "placeholder"}
    return tuple(torch.randn(vals[s].shape, dtype=vals[s].dtype) for s in specs)


def _arg(node: fx.Node, i: int, default):
    return node.args[i] if len(node.args) > i else node.kwargs.get(_NAMES[i], default)


_NAMES = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


def modules_from_graph(gm: fx.GraphModule) -> fx.GraphModule:
    """Replace ``aten.linear`` / ``aten.convNd`` calls on parameters by module calls."""
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or not hasattr(node.target, "_opname"):
            continue
        op = node.target._opname
        if op != "linear" and op not in _CONV_OPS:
            continue
        w_node, b_node = node.args[1], _arg(node, 2, None)
        if getattr(w_node, "op", None) != "get_attr" or len(w_node.users) != 1:
            continue
        owner, _, leaf = w_node.target.rpartition(".")
        weight = gm.get_parameter(w_node.target)
        bias = None if b_node is None else gm.get_parameter(b_node.target)
        if leaf != "weight" or (b_node is not None and b_node.target != f"{owner}.bias"):
            continue
        if op == "linear":
            module = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        else:
            d = _CONV_OPS[op]
            module = getattr(nn, f"Conv{d}d")(
                weight.shape[1] * _arg(node, 6, 1),
                weight.shape[0],
                tuple(weight.shape[2:]),
                stride=_arg(node, 3, 1),
                padding=_arg(node, 4, 0),
                dilation=_arg(node, 5, 1),
                groups=_arg(node, 6, 1),
                bias=bias is not None,
            )
        module.weight = weight
        if bias is not None:
            module.bias = bias
        parent, _, child = owner.rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, child, module)
        with gm.graph.inserting_before(node):
            call = gm.graph.call_module(owner, (node.args[0],))
        node.replace_all_uses_with(call)
        gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def save_model(model: nn.Module, path: str, example: tuple) -> str:
    """Save as a ``torch.export`` archive (``.pt2``) or, for any other suffix, TorchScript
    (traced on ``example``). Returns the format used."""
    model = model.eval()
    if path.endswith(".pt2"):
        torch.export.save(torch.export.export(model, example), path)
        return "torch.export"
    with torch.no_grad():
        torch.jit.trace(model, example).save(path)
    return "TorchScript"
