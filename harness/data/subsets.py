"""Named, versioned subsets of ImageNet: which classes, how many images, what stored size.

A subset is data, not code: the built-ins live in ``harness/data/subsets/*.toml``
(one or more ``[[subset]]`` tables per file; an explicit class list may sit in a
``classes_file`` next to it). A subset is never edited in place: a corrected
one ships as the next ``version`` and the old one stays, because the version
is part of the manifest hash that every cache and result carries.

Selection rules (deterministic, documented once here):

* classes ``"all"``: every class of the dataset root; an ``int`` N: N wnids
  drawn without replacement by ``numpy.random.default_rng(class_seed)`` from
  the sorted wnids of the root, then sorted; a tuple: exactly those wnids.
* images: the first ``train_per_class`` / ``val_per_class`` file names of each
  class in sorted order (``None`` = all). Sorted-first rather than a seeded
  draw so that adding images to a class folder never reshuffles the images
  already chosen, and the choice needs no RNG whose stream could change.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from harness.data.errors import SubsetError
from harness.registry import Registry

__all__ = [
    "SUBSETS",
    "Subset",
    "adhoc_subset",
    "get_subset",
    "load_subsets_toml",
    "present_classes_subset",
]

ClassSpec = str | int | tuple[str, ...]


@dataclass(frozen=True)
class Subset:
    """What to take from a dataset root. See the module docstring for the selection rules."""

    name: str
    version: int = 1
    layout: str | None = None  # layout hint (e.g. "tiny-imagenet"), for messages; detection decides
    classes: ClassSpec = "all"  # "all" | N drawn with class_seed | explicit wnids
    class_seed: int = 0  # seed of the draw when classes is an int
    train_per_class: int | None = None  # first M sorted file names per class; None = all
    val_per_class: int | None = None  # first K sorted file names per class; None = all
    size: int = 256  # stored side length S of the square uint8 images, px
    description: str = ""
    source: str = ""  # citation / origin of the data
    expected_classes: int | None = None  # classes "all" must find (e.g. 1000 for ILSVRC-2012)

    def __post_init__(self) -> None:
        if isinstance(self.classes, list):
            object.__setattr__(self, "classes", tuple(self.classes))
        c = self.classes
        if isinstance(c, str) and c != "all":
            raise SubsetError(
                f"subset {self.name!r}: classes must be 'all', an int or a list of wnids, got {c!r}"
            )
        if isinstance(c, int) and not isinstance(c, bool) and c < 1:
            raise SubsetError(f"subset {self.name!r}: classes must be >= 1, got {c}")
        if isinstance(c, tuple) and (not c or len(set(c)) != len(c)):
            raise SubsetError(
                f"subset {self.name!r}: the class list is empty or has repeated wnids"
            )
        for field_name in ("train_per_class", "val_per_class"):
            n = getattr(self, field_name)
            if n is not None and n < 1:
                raise SubsetError(
                    f"subset {self.name!r}: {field_name} must be >= 1 or None, got {n}"
                )
        if self.size < 8:
            raise SubsetError(f"subset {self.name!r}: size must be >= 8 px, got {self.size}")

    @property
    def key(self) -> str:
        """``name@version``: what results and caches are labelled with."""
        return f"{self.name}@{self.version}"

    def select_classes(self, wnids: Sequence[str], where: str = "") -> tuple[str, ...]:
        """The sorted wnids this subset takes from the dataset classes ``wnids``."""
        available = sorted(wnids)
        where = f" in {where}" if where else ""
        if self.classes == "all":
            if self.expected_classes is not None and len(available) != self.expected_classes:
                raise SubsetError(
                    f"subset {self.key} is all {self.expected_classes} classes but the "
                    f"dataset{where} has {len(available)}; to run on the classes it holds, "
                    f"leave out --suite/--subset (`harness run --data PATH`) or draw some with "
                    f"--classes N"
                )
            return tuple(available)
        if isinstance(self.classes, int):
            if self.classes > len(available):
                raise SubsetError(
                    f"subset {self.key} asks for {self.classes} classes but the dataset{where} "
                    f"has only {len(available)}: pass --classes {len(available)} or fewer"
                )
            rng = np.random.default_rng(self.class_seed)
            chosen = rng.choice(len(available), size=self.classes, replace=False)
            return tuple(sorted(available[i] for i in chosen))
        missing = [w for w in self.classes if w not in set(available)]
        if missing:
            present = len(set(self.classes) & set(available))
            raise SubsetError(
                f"subset {self.key} needs {len(missing)} class(es) the dataset{where} does not "
                f"have ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}; "
                f"{present} of its {len(self.classes)} are present); to run on the "
                f"{len(available)} classes the dataset holds, leave out --suite/--subset "
                f"(`harness run --data PATH`) or draw some of them with --classes N"
            )
        return tuple(sorted(self.classes))

    def per_class(self, split: str) -> int | None:
        return {"train": self.train_per_class, "val": self.val_per_class}[split]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if isinstance(self.classes, tuple):
            d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Subset:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SubsetError(
                f"subset {d.get('name')!r}: unknown keys {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**d)


#: Every named subset; ``name`` is the newest version, ``name@N`` a given one.
SUBSETS: Registry[Subset] = Registry("subset")


def load_subsets_toml(text: str, source: str = "<toml>", classes_files: Any = None) -> list[Subset]:
    """Parse ``[[subset]]`` tables; ``classes_files`` resolves a ``classes_file`` name to its text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SubsetError(f"{source}: not valid TOML: {exc}") from exc
    out = []
    for table in data.get("subset", []):
        table = dict(table)
        if "classes_file" in table:
            fname = table.pop("classes_file")
            if classes_files is None:
                raise SubsetError(
                    f"{source}: classes_file {fname!r} given but no folder to read it from"
                )
            lines = classes_files(fname).splitlines()
            table["classes"] = tuple(
                w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")
            )
        out.append(Subset.from_dict(table))
    return out


def _register_builtins() -> None:
    folder = resources.files("harness.data") / "subsets"
    newest: dict[str, Subset] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        for subset in load_subsets_toml(
            entry.read_text(encoding="utf-8"),
            source=f"harness/data/subsets/{entry.name}",
            classes_files=lambda fname: (folder / fname).read_text(encoding="utf-8"),
        ):
            if subset.key in SUBSETS:
                raise SubsetError(f"subset {subset.key} is defined twice (in {entry.name})")
            SUBSETS.add(subset.key, subset)
            if subset.name not in newest or subset.version > newest[subset.name].version:
                newest[subset.name] = subset
    for name, subset in newest.items():
        SUBSETS.add(name, subset)


def get_subset(name: str) -> Subset:
    """A registered subset by ``name`` (newest version) or ``name@version``."""
    return SUBSETS.get(name)


def adhoc_subset(
    base: Subset | str,
    classes: int | None = None,
    train_per_class: int | None = None,
    val_per_class: int | None = None,
    seed: int = 0,
    size: int | None = None,
) -> Subset:
    """A subset of ``base`` from CLI flags; its name spells the parameters for the record.

    ``classes`` draws that many classes (seeded by ``seed``) from the base's
    classes; the per-class counts may only shrink the base's.
    """
    if isinstance(base, str):
        base = get_subset(base)
    new_classes: ClassSpec = base.classes
    if classes is not None:
        if isinstance(base.classes, tuple):
            if classes > len(base.classes):
                raise SubsetError(
                    f"ad-hoc subset of {base.key} asks for {classes} classes but it has {len(base.classes)}"
                )
            rng = np.random.default_rng(seed)
            pool = sorted(base.classes)
            new_classes = tuple(
                sorted(pool[i] for i in rng.choice(len(pool), classes, replace=False))
            )
        elif isinstance(base.classes, int):
            raise SubsetError(
                f"ad-hoc class count on {base.key}, which already draws {base.classes} classes; "
                f"start from a subset whose classes are 'all' or a list"
            )
        else:
            new_classes = classes
    for flag, asked, has in (
        ("--train-per-class", train_per_class, base.train_per_class),
        ("--val-per-class", val_per_class, base.val_per_class),
    ):
        if asked is not None and has is not None and asked > has:
            raise SubsetError(
                f"{flag} {asked} is more than subset {base.key} has per class ({has})"
            )
    parts = []
    if classes is not None:
        parts.append(f"c{classes}")
    if train_per_class is not None:
        parts.append(f"t{train_per_class}")
    if val_per_class is not None:
        parts.append(f"v{val_per_class}")
    if size is not None and size != base.size:
        parts.append(f"px{size}")
    parts.append(f"s{seed}")
    return dataclasses.replace(
        base,
        name=f"{base.name}:{'-'.join(parts)}",
        classes=new_classes,
        class_seed=seed if isinstance(new_classes, int) else base.class_seed,
        train_per_class=train_per_class if train_per_class is not None else base.train_per_class,
        val_per_class=val_per_class if val_per_class is not None else base.val_per_class,
        size=size if size is not None else base.size,
        description=f"ad-hoc subset of {base.key}: {' '.join(parts)}",
    )


def present_classes_subset(layout: str, wnids: Sequence[str], size: int, label: str = "") -> Subset:
    """The ad-hoc subset "every class this copy holds", named from its layout and class set.

    ``harness run --data PATH`` with no suite or subset runs on it. The name
    spells the layout, the class count and a digest of the sorted wnids, so two
    copies with different classes never share a name; like every subset, its
    manifest hash is what identifies the images.
    """
    import hashlib

    ordered = sorted(wnids)
    digest = hashlib.sha256("\n".join(ordered).encode()).hexdigest()[:8]
    return Subset(
        name=f"{layout}-{len(ordered)}cls-{digest}",
        version=1,
        layout=layout,
        classes="all",
        size=size,
        description=(
            f"every class of a {label or layout} copy: {len(ordered)} classes, all their images"
        ),
        source="the user's own copy (ad-hoc)",
    )


_register_builtins()
