"""Sphinx extension (loaded from _config.yml): equation numbers in this book are the paper's.

Sphinx numbers labelled equations page by page, (1), (2), ... (``math_numfig``), so the chapter on
Eq. 3–4 would show (1) and (2), and a page's own formula could show a number that belongs to
another equation of the paper. After Sphinx has assigned its numbers, this extension replaces
them, for the equation itself and for every ``{eq}`` reference to it:

* ``eq-<n>`` (``eq-3``, ``eq-12``; a letter may follow, ``eq-9a``) is the paper's equation ``n``
  and is shown as ``(n)``;
* ``eq-<n>-<anything>`` (``eq-13-ours``) is a variant of the paper's equation ``n`` and is shown
  as ``(n′)`` (the next variant of the same ``n`` on a page as ``(n″)``, then ``(n‴)``);
* any other label (``eq-peers-nl``) is the book's own formula and is shown as a letter,
  ``(A)``, ``(B)``, ... in the page's order, so it never collides with a paper number.

Unlabelled display math is not numbered at all.
"""
from __future__ import annotations

import re
import string

_PAPER = re.compile(r"^equation-eq-(\d+[a-z]?)$")
_VARIANT = re.compile(r"^equation-eq-(\d+)-.+$")
_PRIMES = ("′", "″", "‴")


def paper_numbers(app, env) -> list[str]:
    """Overwrite the numbers Sphinx gave to the labelled equations of every page."""
    for kinds in env.toc_fignumbers.values():
        equations = kinds.get("displaymath", {})
        variants: dict[str, int] = {}
        own = 0
        for node_id in sorted(equations, key=lambda k: tuple(equations[k])):
            paper, variant = _PAPER.match(node_id), _VARIANT.match(node_id)
            if paper:
                number = paper.group(1)
            elif variant:
                n = variant.group(1)
                k = variants.get(n, 0)
                variants[n] = k + 1
                number = n + (_PRIMES[k] if k < len(_PRIMES) else f"′{k + 1}")
            else:
                letters = string.ascii_uppercase
                number = letters[own] if own < len(letters) else f"A{own}"
                own += 1
            equations[node_id] = (number,)   # Sphinx prints '.'.join(map(str, ...))
    return []


def setup(app):
    # priority 900: after Sphinx's TocTreeCollector has assigned the figure numbers (500)
    app.connect("env-get-updated", paper_numbers, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
