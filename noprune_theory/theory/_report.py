"""What ``noprune-theory bound`` and ``derive`` print: one report, three formats.

:func:`bound_report` computes every number (through the public numeric API, so the command line
and the API cannot disagree) into a dict with stable keys; :func:`format_bound_text` and
:func:`format_bound_latex` only lay it out, and ``--json`` prints the dict itself. This module
does not import sympy; the derivation formatters receive a built :class:`Derivation`.
"""
from __future__ import annotations

import math
import sys
import textwrap
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._numeric import (
    DEFAULTS,
    _call,
    effective_params,
    lipschitz_param_constant,
    mask_entropy_bound,
    mi_to_bits,
    parameter_set_diameter,
    required_params,
    robustness_bound,
    sample_size_condition,
    sparse_robustness_bound,
    two_layer_params,
)

if TYPE_CHECKING:
    from ._derivation import Derivation

__all__ = ["DEFAULT_REASONS", "bound_report", "format_bound_text", "format_bound_latex",
           "format_derivation_text", "format_derivation_latex", "SOURCE_CAVEAT"]

#: Why each default was chosen (printed by ``bound`` and its --help).
DEFAULT_REASONS = {
    "eps": "fits 0.1 below the noise level (labels in [-1,1]; an exact interpolator of labels "
           "with noise variance sigma^2 has eps up to sigma^2, so 0.1 is conservative)",
    "delta": "statements hold with probability 99%",
    "c": "N(0, I_d/d) is c-isoperimetric with c = 1",
    "W": "normalised parameter set (its diameter); enters only through log(60 W J / eps)",
    "J": "normalised parametrisation; enters only through log(60 W J / eps)",
    "k": "one isoperimetric component (no mixture)",
    "w_max": "weights in [-1, 1]^p (the coordinate bound of [BS Lemma 3.1]; W and J follow)",
}

#: Default coordinate bound of a ``--width`` net's weights.
W_MAX_DEFAULT = 1.0

SOURCE_CAVEAT = (
    "Theorem statements and constants: [BS] NeurIPS 2021 version (the JACM 2023 version may "
    "differ in constants: unverified), [NFP] arXiv v1. The split of the constants among the "
    "proof steps is a reconstruction consistent with the stated theorems and could not be "
    "checked against the sources.")

_SIZE_GRID = (("n", lambda n, d: n), ("nd/100", lambda n, d: n * d / 100),
              ("nd/10", lambda n, d: n * d / 10), ("nd", lambda n, d: n * d),
              ("10 nd", lambda n, d: 10 * n * d))


def _size_rows(n, d):
    rows = {}
    for label, fn in _SIZE_GRID:
        value = float(fn(float(n), float(d)))
        if not math.isfinite(value):
            raise ValueError(f"--n times --d must be at most {sys.float_info.max / 10:.4g}, so "
                             f"that the table's largest size 10 n d is a finite number, got "
                             f"n = {float(n):.4g} and d = {float(d):.4g}")
        key = float(f"{value:.12g}")
        rows.setdefault(key, []).append(label)
    return [(" = ".join(labels), value) for value, labels in sorted(rows.items())]


def _condition(n, eps, delta, k, theorem):
    cond = sample_size_condition(n, eps=eps, delta=delta, k=k, theorem=theorem)
    return {"theorem": cond.theorem, "statement": cond.statement, "lhs": cond.lhs,
            "rhs": cond.rhs, "holds": cond.holds, "n_required": cond.n_required}


def bound_report(n: float, d: float, *, p: float | None = None, sparsity: float | None = None,
                 kept: float | None = None, mi: float | None = None,
                 mi_unit: Literal["bits", "nats"] = "bits", eps: float | None = None,
                 delta: float | None = None, c: float | None = None, W: float | None = None,
                 J: float | None = None, k: int | None = None, width: int | None = None,
                 w_max: float | None = None, lip: float = 1.0) -> dict[str, Any]:
    """Compute all numbers of ``noprune-theory bound`` as a dict with stable keys.

    Arguments left as None take :data:`DEFAULTS`; the report lists which ones (``assumed``).
    With ``width``, the diameter W and the constant J are derived from the coordinate bound
    ``w_max`` (default 1) unless given: W = 2 w_max sqrt(p), J = R (w_max Q p)^D.

    Parameters
    ----------
    n, d : float
        Number of samples and input dimension, >= 1.
    p : float, optional
        Number of parameters of the model to report on. Give at most one of ``p`` and
        ``width``; without either there is no model section.
    sparsity : float, optional
        Fraction of the model's weights removed by the mask, in [0, 1).
    kept : float, optional
        Number of weights the mask keeps, in [0, p] (at most one of ``sparsity`` and ``kept``;
        neither: the dense model, kept = p).
    mi : float, optional
        The mask's I(m; D), at most log2 C(p, kept) bits (in ``mi_unit``).
    mi_unit : {"bits", "nats"}, default "bits"
        Unit of ``mi``.
    eps, delta, c, W, J : float, optional
        As in :func:`robustness_bound`; None takes :data:`DEFAULTS` (W and J derived with
        ``width``).
    k : int, optional
        Number of isoperimetric mixture components; None takes :data:`DEFAULTS`.
    width : int, optional
        Hidden width of a two-layer model: p = width (d + 2).
    w_max : float, optional
        Coordinate bound of the two-layer model's weights (needs ``width``; default 1).
    lip : float, default 1
        Target Lipschitz constant of the ``required`` section.

    Returns
    -------
    dict
        Keys ``inputs``, ``assumed`` (the defaults taken and why), ``units``, ``conditions``
        (the sample-size conditions of both theorems), ``table`` (both bounds over a grid of
        sizes), ``required`` (the size needed for Lip <= ``lip``), ``model`` (None without
        ``p`` or ``width``) and ``sources``.

    Raises
    ------
    ValueError
        For conflicting or incomplete options (for example ``kept`` without ``p`` or ``width``),
        or an ``mi`` above the mask entropy.
    """
    given = {"eps": eps, "delta": delta, "c": c, "W": W, "J": J, "k": k}
    assumed = {name: {"value": DEFAULTS[name], "why": DEFAULT_REASONS[name]}
               for name, value in given.items() if value is None}
    eps, delta, c, k = (DEFAULTS[x] if v is None else v for x, v in
                        (("eps", eps), ("delta", delta), ("c", c), ("k", k)))
    if w_max is not None and width is None:
        raise ValueError("--w-max needs --width: it is the coordinate bound of the two-layer "
                         "net's weights, from which W and J are derived (with --p give --W and "
                         "--J directly)")
    if p is not None and width is not None:
        raise ValueError("give at most one of --p and --width")
    if sparsity is not None and kept is not None:
        raise ValueError("give at most one of --sparsity and --kept")
    model_given = p is not None or width is not None
    for name, value in (("--kept", kept), ("--sparsity", sparsity), ("--mi", mi)):
        if value is not None and not model_given:
            raise ValueError(f"{name} needs the model's size: give --p or --width")

    J_source = "given" if J is not None else "default"
    W_source = "given" if W is not None else "default"
    model = None
    if model_given:
        if width is not None:
            p = two_layer_params(d, width)
            if w_max is None:
                w_max = W_MAX_DEFAULT
                assumed["w_max"] = {"value": W_MAX_DEFAULT, "why": DEFAULT_REASONS["w_max"]}
            if W is None:
                # [BS Thm 3] needs the diameter of the parameter set: for [-w_max, w_max]^p
                # it is the cube's diagonal, not w_max
                W = parameter_set_diameter(p, w_max=w_max)
                W_source = ("derived: W = 2 w_max sqrt(p), the diameter of [-w_max, w_max]^p, "
                            f"w_max = {w_max:g}")
                assumed.pop("W", None)
            if J is None:
                # [BS Lemma 3.1] with inputs in the unit ball (R = 1), no sharing, depth 2
                J = lipschitz_param_constant(p, R=1.0, w_max=w_max, Q=1.0, depth=2)
                J_source = (f"derived: J = R (w_max Q p)^D, w_max = {w_max:g}, R = 1, Q = 1, "
                            "D = 2 [BS Lemma 3.1]")
                assumed.pop("J", None)
        if J is None:
            J = DEFAULTS["J"]
        if W is None:
            W = DEFAULTS["W"]
        if kept is not None and kept > p:
            raise ValueError(f"--kept must be a number in [0, p], got {kept:g} > p = {p:g}")
        if kept is None:
            kept = p if sparsity is None else (1.0 - sparsity) * p
        mask_bits = mask_entropy_bound(p, kept) if kept < p else 0.0
        p_eff_agnostic = effective_params(kept, 0.0, eps=eps, W=W, J=J)
        p_eff_max = effective_params(kept, mask_bits, eps=eps, W=W, J=J)
        opts = dict(eps=eps, delta=delta, c=c, check="ignore")
        model = {
            "p": float(p), "width": width, "w_max": None if w_max is None else float(w_max),
            "W": float(W), "W_source": W_source, "J": float(J), "J_source": J_source,
            "kept": float(kept), "sparsity": 1.0 - kept / p,
            "dense_lip_lower": robustness_bound(n, d, p, W=W, J=J, k=k, **opts),
            "mask_entropy_bits": float(mask_bits),
            "p_eff_data_agnostic": p_eff_agnostic,
            "p_eff_max_informative": p_eff_max,
            "sparse_lip_lower_data_agnostic": sparse_robustness_bound(n, d, p_eff_agnostic,
                                                                      k=k, **opts),
            "sparse_lip_lower_max_informative": sparse_robustness_bound(n, d, p_eff_max, k=k,
                                                                        **opts),
            "mi_bits": None, "p_eff_given_mi": None, "sparse_lip_lower_given_mi": None,
        }
        if mi is not None:
            mi_bits = mi_to_bits(mi, mi_unit)
            # I(m; D) <= H(m) <= log2 C(p, kept); a few ulps of slack for a cap typed back in
            if mi_bits > mask_bits * (1 + 1e-12):
                shown = (f"{mi:.6g} nats = {mi_bits:.6g} bits" if mi_unit == "nats"
                         else f"{mi_bits:.6g} bits")
                raise ValueError(
                    f"--mi must be at most log2 C(p, kept) = {mask_bits:.6g} bits (the entropy "
                    f"of a mask keeping {kept:g} of {p:g} weights bounds I(m; D)), got {shown}")
            p_eff_mi = effective_params(kept, mi_bits, eps=eps, W=W, J=J)
            model.update(mi_bits=float(mi_bits), p_eff_given_mi=p_eff_mi,
                         sparse_lip_lower_given_mi=sparse_robustness_bound(n, d, p_eff_mi, k=k,
                                                                           **opts))
    if J is None:
        J = DEFAULTS["J"]
    if W is None:
        W = DEFAULTS["W"]

    opts = dict(eps=eps, delta=delta, c=c, check="ignore")
    rows = []
    for label, value in _size_rows(n, d):
        rows.append({
            "label": label, "size": value,
            "dense_lip_lower": robustness_bound(n, d, value, W=W, J=J, k=k, **opts),
            "sparse_lip_lower": sparse_robustness_bound(n, d, value, k=k, **opts),
            "informal_scale": _call("informal_scale", n, d, value, eps),
        })
    required = {
        "lip": lip,
        "p_eff_bits": required_params(n, d, lip=lip, eps=eps, delta=delta, c=c),
        "p": required_params(n, d, lip=lip, sparse=False, eps=eps, delta=delta, c=c, W=W, J=J),
        "sparse_lip_lower_at_p_eff_0": sparse_robustness_bound(n, d, 0.0, k=k, **opts),
        "dense_lip_lower_at_p_0": robustness_bound(n, d, 0.0, W=W, J=J, k=k, **opts),
        "informal_p_eff": _call("informal_required_params", n, d, lip, eps),
    }
    return {
        "inputs": {"n": n, "d": d, "eps": eps, "delta": delta, "c": c, "W": float(W),
                   "J": float(J), "k": k, "p": None if p is None else float(p), "width": width,
                   "w_max": None if w_max is None else float(w_max),
                   "kept": None if kept is None else float(kept), "sparsity": sparsity,
                   "mi": mi, "mi_unit": mi_unit},
        "assumed": assumed,
        "units": {"p_eff": "bits", "mutual_information": "bits", "log": "natural"},
        "conditions": {"dense": _condition(n, eps, delta, k, "dense"),
                       "sparse": _condition(n, eps, delta, k, "sparse")},
        "table": rows,
        "required": required,
        "model": model,
        "sources": SOURCE_CAVEAT,
    }


def _g(x, digits=4):
    return f"{x:.{digits}g}"


def _cond_line(cd):
    verdict = "holds" if cd["holds"] else f"FAILS: needs n >= {_g(cd['n_required'])}"
    return (f"  {cd['theorem']:<12} {cd['statement']}:  {_g(cd['lhs'])} <= {_g(cd['rhs'])}  "
            f"{verdict}")


def format_bound_text(rep: dict[str, Any]) -> str:
    """Lay out a :func:`bound_report` as the readable table of ``noprune-theory bound``.

    Parameters
    ----------
    rep : dict
        A report made by :func:`bound_report`.

    Returns
    -------
    str
        The table, lines separated by newlines (no trailing newline).
    """
    inp, out = rep["inputs"], []
    out.append(f"Law of Robustness: Lipschitz lower bounds for n = {_g(inp['n'], 6)} samples in "
               f"d = {_g(inp['d'], 6)} dimensions")
    out.append("(any model fitting below the noise level by eps; probability >= 1 - delta)")
    used = ", ".join(f"{name} = {_g(inp[name])}" for name in ("eps", "delta", "c", "W", "J", "k"))
    out.append(f"parameters: {used}")
    if rep["assumed"]:
        out.append("defaults assumed (override with the option of the same name):")
        for name, info in rep["assumed"].items():
            out.extend(textwrap.wrap(f"{name} = {_g(info['value'])}: {info['why']}", 98,
                                     initial_indent="  ", subsequent_indent="      "))
    out.append("")
    out.append("validity (sample-size conditions)")
    conds = rep["conditions"]
    out.extend(_cond_line(conds[key]) for key in ("dense", "sparse"))
    if not (conds["dense"]["holds"] and conds["sparse"]["holds"]):
        out.append("  a failing condition means the value below is the theorem's formula, not a "
                   "guaranteed bound")
    out.append("")
    head = ("size", "value", "dense Lip >=", "sparse Lip >=", "informal")
    sub = ("", "", "[BS Thm 3], p", "[NFP Thm 4], p_eff", "eps sqrt(nd/size)")
    sub2 = ("", "", "= value", "= value bits", "(no constants)")
    widths = (max(14, *(len(r["label"]) + 2 for r in rep["table"])), 10, 16, 20, 18)
    for line in (head, sub, sub2):
        out.append("  " + "".join(f"{x:<{w}}" for x, w in zip(line, widths)).rstrip())
    for r in rep["table"]:
        cells = (r["label"], _g(r["size"]), _g(r["dense_lip_lower"]),
                 _g(r["sparse_lip_lower"]), _g(r["informal_scale"]))
        out.append("  " + "".join(f"{x:<{w}}" for x, w in zip(cells, widths)).rstrip())
    out.append("")
    req = rep["required"]
    out.append(f"an interpolator with Lip <= {_g(req['lip'])} (O(1)-Lipschitz) needs")
    if req["p_eff_bits"] > 0:
        out.append(f"  p_eff >= {_g(req['p_eff_bits'])} bits  [NFP Thm 4]")
    else:
        out.append(f"  any p_eff  [NFP Thm 4]: the bound stays below {_g(req['lip'])} for every "
                   f"p_eff (at most {_g(req['sparse_lip_lower_at_p_eff_0'])}, at p_eff = 0)")
    if req["p"] > 0:
        out.append(f"  p >= {_g(req['p'])}  [BS Thm 3]")
    else:
        out.append(f"  any p  [BS Thm 3]: the bound stays below {_g(req['lip'])} for every p "
                   f"(at most {_g(req['dense_lip_lower_at_p_0'])}, at p = 0)")
    out.append(f"  informally p_eff ~ eps^2 n d / Lip^2 = {_g(req['informal_p_eff'])} "
               "(constants and logs dropped)")
    m = rep["model"]
    if m is not None:
        out.append("")
        size = (f"two-layer net of width {m['width']}: p = width (d + 2) = {_g(m['p'], 8)}"
                if m["width"] is not None else f"p = {_g(m['p'], 8)}")
        out.append(f"your model: {size}")
        out.append(f"  W = {_g(m['W'])} ({m['W_source']})")
        out.append(f"  J = {_g(m['J'])} ({m['J_source']})")
        out.append(f"  kept weights ||m||_1 = {_g(m['kept'], 8)} (sparsity {_g(m['sparsity'])})")
        out.append(f"  dense Lip >= {_g(m['dense_lip_lower'])}  [BS Thm 3, p = {_g(m['p'])}]")
        out.append(f"  sparse, data-agnostic mask (I = 0): p_eff = "
                   f"{_g(m['p_eff_data_agnostic'])} bits, Lip >= "
                   f"{_g(m['sparse_lip_lower_data_agnostic'])}")
        out.append(f"  sparse, most informative mask (I <= log2 C(p, kept) = "
                   f"{_g(m['mask_entropy_bits'])} bits): p_eff <= "
                   f"{_g(m['p_eff_max_informative'])} bits, Lip >= "
                   f"{_g(m['sparse_lip_lower_max_informative'])}")
        if m["mi_bits"] is not None:
            out.append(f"  sparse, your I(m; D) = {_g(m['mi_bits'])} bits: p_eff = "
                       f"{_g(m['p_eff_given_mi'])} bits, Lip >= "
                       f"{_g(m['sparse_lip_lower_given_mi'])}")
    out.append("")
    out.append("units: p_eff and I(m; D) in bits (--mi-unit nats converts); logs natural.")
    out.extend(textwrap.wrap(f"sources: {rep['sources']}", 100, subsequent_indent="  "))
    return "\n".join(out)


def _tex(x):
    if x is None:
        return "--"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    mant, _, exp = f"{x:.4g}".partition("e")
    return f"${mant}\\times 10^{{{int(exp)}}}$" if exp else f"${mant}$"


def format_bound_latex(rep: dict[str, Any]) -> str:
    """Lay out a :func:`bound_report` as a LaTeX table (booktabs), assumptions in the caption.

    Parameters
    ----------
    rep : dict
        A report made by :func:`bound_report`.

    Returns
    -------
    str
        The ``table`` environment.
    """
    inp, conds = rep["inputs"], rep["conditions"]
    tex_names = {"eps": r"\varepsilon", "delta": r"\delta"}
    params = ", ".join(f"${tex_names.get(name, name)}={inp[name]:g}$"
                       for name in ("eps", "delta", "c", "W", "J", "k"))
    lines = [
        r"\begin{table}[ht]", r"\centering",
        r"\begin{tabular}{lrrrr}", r"\toprule",
        r"size & value & dense $\mathrm{Lip}\ge$ [BS Thm 3] & sparse $\mathrm{Lip}\ge$ "
        r"[NFP Thm 4] & $\varepsilon\sqrt{nd/\text{size}}$ \\",
        r"\midrule",
    ]
    for r in rep["table"]:
        lines.append(f"${r['label']}$ & {_tex(r['size'])} & {_tex(r['dense_lip_lower'])} & "
                     f"{_tex(r['sparse_lip_lower'])} & {_tex(r['informal_scale'])} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    validity = "; ".join(
        f"{cd['theorem']} condition {'holds' if cd['holds'] else 'fails'} "
        f"($n \\ge$ {_tex(cd['n_required'])} needed)" for cd in (conds["dense"], conds["sparse"]))
    lines.append(f"\\caption{{Lipschitz lower bounds for $n={inp['n']:g}$, $d={inp['d']:g}$, "
                 f"{params}; dense rows use $p=$ value, sparse rows $p_{{\\mathrm{{eff}}}}=$ "
                 f"value bits. {validity}.}}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def format_derivation_text(D: Derivation) -> str:
    """Lay out the steps, checks and notes of a :class:`Derivation`, one expression per step.

    Parameters
    ----------
    D : Derivation
        A derivation made by :func:`derivation`.

    Returns
    -------
    str
        The numbered steps, the symbolic checks with their verdicts, the notes and the sources.
    """
    out = [f"{D.title}: derivation of {D.theorem}", ""]
    for i, st in enumerate(D.steps, 1):
        out.append(f"({i}) {st.title}  ({st.source})")
        out.append(f"    {st.text()}")
        if st.note:
            out.append(f"    note: {st.note}")
    out.append("")
    out.append("symbolic checks (sympy; each difference must simplify to 0)")
    for ch in D.checks:
        out.append(f"  [{'ok' if ch.passed else 'FAILED'}] {ch.name}: {ch.description}")
    for note in D.notes:
        out.append("")
        out.extend(textwrap.wrap(f"note: {note}", 100, subsequent_indent="  "))
    out.append("")
    out.extend(textwrap.wrap(f"sources: {SOURCE_CAVEAT}", 100, subsequent_indent="  "))
    return "\n".join(out)


def format_derivation_latex(D: Derivation) -> str:
    """Lay out a :class:`Derivation` as MyST/LaTeX display math, one ``$$`` block per step.

    Parameters
    ----------
    D : Derivation
        A derivation made by :func:`derivation`.

    Returns
    -------
    str
        The steps as ``$$`` blocks; titles, checks and notes as ``%`` comments.
    """
    out = [f"% {D.title}: derivation of {D.theorem}"]
    for i, st in enumerate(D.steps, 1):
        out.append(f"% ({i}) {st.title} ({st.source})")
        out.append("$$")
        out.append(st.latex())
        out.append("$$")
    for ch in D.checks:
        out.append(f"% check {ch.name}: {'ok' if ch.passed else 'FAILED'} -- {ch.description}")
    for note in D.notes:
        out.append(f"% note: {note}")
    return "\n".join(out)
