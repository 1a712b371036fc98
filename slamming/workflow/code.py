"""The code a job runs, as a digest: a param of every rule, so that a fixed stage or library function
re-runs the jobs that ran it (rules run ``python -m workflow_scripts.<stage>``, which Snakemake's
``code`` re-run trigger does not look into).

A stage's digest covers its module and every module of this project it imports, directly or through
others (imports inside functions included), with their parent packages. Each module counts by its
syntax tree without docstrings: a changed comment, docstring, blank line or line wrap re-runs
nothing; a changed statement re-runs every job whose stage imports it. Modules outside the project
(PyTorch, transformers) are pinned in ``constraints.txt`` instead.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGES = ("slamming", "workflow_scripts")


class StageCode:
    """Digests of the stages under ``root`` (the workflow's folder: its slamming/ and workflow_scripts/)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._modules: dict[str, tuple[str, frozenset[str]]] = {}

    def module_file(self, name: str) -> Path | None:
        """The file of a project module (``slamming.data.audio``), None for anything else."""
        parts = name.split(".")
        if parts[0] not in PACKAGES:
            return None
        base = self.root.joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        return None

    def module(self, name: str) -> tuple[str, frozenset[str]]:
        """(the digest of a module's code, the project modules it imports)."""
        if name not in self._modules:
            path = self.module_file(name)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            imported = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    imported.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    imported.add(node.module)  # `from slamming.data import audio` imports a module by its name too
                    imported.update(f"{node.module}.{alias.name}" for alias in node.names)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
                    first = node.body[0]
                    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                        node.body = node.body[1:] or [ast.Pass()]
            parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
            project = frozenset(m for m in imported | parents if m != name and self.module_file(m))
            digest = hashlib.sha256(ast.dump(tree, annotate_fields=False, include_attributes=False).encode()).hexdigest()
            self._modules[name] = (digest, project)
        return self._modules[name]

    def modules(self, stage: str) -> list[str]:
        """``workflow_scripts.<stage>`` and every project module it imports, directly or not."""
        seen, todo = set(), [f"workflow_scripts.{stage}"]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.module(name)[1])
        return sorted(seen)

    def digest(self, stage: str) -> str:
        """What a job of ``stage`` runs, in 16 hex digits."""
        combined = hashlib.sha256()
        for name in self.modules(stage):
            combined.update(f"{name} {self.module(name)[0]}\n".encode())
        return combined.hexdigest()[:16]
