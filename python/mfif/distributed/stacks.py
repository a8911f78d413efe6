"""The stacks of a :func:`~mfif.distributed.fuse_many` run: what each one reads and writes, and
when its outputs count as complete.

Completeness rule (what a restarted run skips): a stack is complete when the
manifest beside its output (``.<output name>.mfif.json``, written atomically by
the worker after every output of the stack) exists and records

* the same input files, each with the same size and modification time,
* the same options (every option of ``mfif fuse``, the depth-map and
  transforms paths included), and
* outputs that all still exist with the size and modification time recorded.

Outputs are renamed into place only when complete (:func:`mfif.io.atomic_output`),
and the manifest is written after them, so a run stopped at any point leaves
each stack either complete or redone on the next run. Changing a frame, an
option or an output redoes that stack; a stack fused by plain ``mfif fuse``
(no manifest) is fused again.
"""
from __future__ import annotations

import glob
import json
import os
import string
from dataclasses import dataclass, field

from ..fusion.sources import StackError, expand_inputs

MANIFEST_VERSION = 1
# the options of `mfif fuse` that name one stack's files: templates in fuse_many
PER_STACK = ("images", "out", "depth_map", "transforms_out", "quiet")


@dataclass
class StackJob:
    """One stack of a run: the items ``mfif fuse`` gets as IMAGES and the files it writes."""

    index: int
    name: str
    items: list[str]
    out: str
    depth_map: str | None = None
    transforms: str | None = None
    inputs: list[str] = field(default_factory=list)  # the frame files, expanded

    @property
    def outputs(self) -> list[str]:
        return [p for p in (self.out, self.depth_map, self.transforms) if p is not None]


def fuse_options(**given) -> dict:
    """Every option of ``mfif fuse`` with its default, overridden by ``given`` (Python names).

    Raises:
        ValueError: a name that is not an option of ``mfif fuse``, or a bad tile size.
    """
    import click

    from ..cli_fuse import _parse_tile, fuse

    with fuse.make_context("fuse", ["frame", "-o", "out.png"]) as ctx:
        options = {k: v for k, v in ctx.params.items() if k not in PER_STACK}
    unknown = sorted(set(given) - set(options))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; the options of mfif fuse are: "
                         f"{', '.join(sorted(options))}")
    options.update(given)
    try:
        _parse_tile(str(options["tile"]) if options["tile"] is not None else "none")
    except click.BadParameter as e:
        raise ValueError(f"tile {e.format_message()}") from None
    return options


def _is_pattern(s: str) -> bool:
    return any(ch in s for ch in "*?[")


def _stack_name(folder: str) -> str:
    return os.path.basename(os.path.normpath(folder)) or "stack"


def expand_stacks(specs) -> list[tuple[str, list[str]]]:
    """``(name, items)`` per stack: a folder is a stack; a pattern matching folders gives one stack
    per folder, a pattern matching files one stack of those files; a list of files is one stack."""
    if isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    stacks = []
    for spec in specs:
        if isinstance(spec, (list, tuple)):
            files = [os.fspath(p) for p in spec]
            stacks.append((_stack_name(os.path.dirname(os.path.abspath(files[0]))) if files else "stack", files))
            continue
        spec = os.fspath(spec)
        if os.path.isdir(spec):
            stacks.append((_stack_name(spec), [spec]))
        elif _is_pattern(spec):
            found = sorted(glob.glob(spec))
            if not found:
                raise StackError(f"{spec}: the pattern matches nothing")
            dirs = [p for p in found if os.path.isdir(p)]
            if dirs and len(dirs) != len(found):
                raise StackError(f"{spec} matches both folders and files; a pattern names either stacks "
                                 "(folders, e.g. 'run/*/') or the frames of one stack (e.g. 'run/a/*.tif')")
            if dirs:
                stacks += [(_stack_name(d), [d]) for d in dirs]
            else:
                stacks.append((_stack_name(os.path.dirname(os.path.abspath(found[0]))), [spec]))
        else:
            raise StackError(f"{spec}: not a folder or a pattern; give a stack as a folder of frames, "
                             "a pattern ('run/*/' for many folders) or a list of files")
    return stacks


def _fill(template: str, what: str, name: str, index: int) -> str:
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    unknown = fields - {"name", "index"}
    if unknown:
        raise ValueError(f"{what} {template!r}: unknown field {{{sorted(unknown)[0]}}}; use {{name}} (the stack's "
                         "folder name) or {index} (its position, from 0)")
    return template.format(name=name, index=index)


def _paths(spec, what: str, stacks) -> list[str | None]:
    if spec is None:
        return [None] * len(stacks)
    if isinstance(spec, (str, os.PathLike)):
        return [_fill(os.fspath(spec), what, name, i) for i, (name, _) in enumerate(stacks)]
    spec = [os.fspath(p) for p in spec]
    if len(spec) != len(stacks):
        raise ValueError(f"{len(spec)} {what} paths for {len(stacks)} stacks; give one per stack or a template "
                         "such as 'out/{name}.tif'")
    return spec


def plan_jobs(stacks, outputs, depth_maps=None, transforms=None) -> list[StackJob]:
    """The jobs of a run, checked before any work: stacks found, one distinct set of outputs each.

    Args:
        stacks: folders, patterns or lists of files (see :func:`expand_stacks`).
        outputs, depth_maps, transforms: a template with ``{name}``/``{index}``, or one path per stack.

    Raises:
        StackError: a pattern that matches nothing.
        ValueError: a bad template, or two stacks writing the same file.
    """
    found = expand_stacks(stacks)
    if not found:
        raise StackError("no stacks given")
    outs, depths, tfs = (_paths(outputs, "output", found), _paths(depth_maps, "depth map", found),
                         _paths(transforms, "transforms", found))
    jobs, owner = [], {}
    for i, ((name, items), o, d, t) in enumerate(zip(found, outs, depths, tfs)):
        try:
            inputs = [os.path.abspath(p) for p in expand_inputs(items)]
        except StackError:
            inputs = []  # an empty folder, say: its task fails alone, with mfif fuse's message
        # absolute paths: a worker may start in another folder (on a cluster, on another machine)
        ab = lambda p: p and os.path.abspath(p)  # noqa: E731
        job = StackJob(i, name, [ab(x) for x in items], ab(o), ab(d), ab(t), inputs=inputs)
        for path in job.outputs:
            key = os.path.abspath(path)
            if key in owner:
                raise ValueError(f"stacks {owner[key][1]!r} and {name!r} would both write {path}; put {{name}} or "
                                 "{index} in the output template")
            owner[key] = (i, name)
        jobs.append(job)
    return jobs


# --- the manifest of a complete stack -----------------------------------------------------

def manifest_path(out: str) -> str:
    folder, base = os.path.split(os.path.abspath(out))
    return os.path.join(folder, f".{base}.mfif.json")


def _stats(paths: list[str]) -> list[list]:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([os.path.abspath(p), st.st_size, st.st_mtime_ns])
    return out


def _canonical(options: dict) -> dict:
    return json.loads(json.dumps(options, sort_keys=True, default=str))


def _record_options(job: StackJob, options: dict) -> dict:
    return _canonical(dict(options, depth_map=job.depth_map and os.path.abspath(job.depth_map),
                           transforms=job.transforms and os.path.abspath(job.transforms)))


def write_manifest(job: StackJob, options: dict, inputs: list[list]) -> None:
    """Record a finished stack (called by the worker once every output is in place)."""
    from ..io import atomic_output

    data = {"mfif_manifest": MANIFEST_VERSION, "inputs": inputs, "options": _record_options(job, options),
            "outputs": _stats([p for p in job.outputs if os.path.exists(p)])}
    with atomic_output(manifest_path(job.out), ".json") as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=1)


def is_complete(job: StackJob, options: dict) -> bool:
    """Whether ``job``'s outputs are complete for these inputs and options (the rule in the module docstring)."""
    try:
        with open(manifest_path(job.out)) as f:
            data = json.load(f)
        if data.get("mfif_manifest") != MANIFEST_VERSION or data["options"] != _record_options(job, options):
            return False
        if data["inputs"] != _stats(job.inputs):
            return False
        recorded = data["outputs"]
        if os.path.abspath(job.out) not in [r[0] for r in recorded]:
            return False
        return recorded == _stats([r[0] for r in recorded])
    except (OSError, ValueError, KeyError, TypeError):
        return False  # no manifest, an unreadable one, or a file gone: not complete
