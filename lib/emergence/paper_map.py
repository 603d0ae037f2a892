"""Where the book reproduces each figure, table and result of the paper, and how fully.

One :class:`Item` per figure, table, theorem, corollary and proposition of the paper (Nam,
Fonseca, Lee, Mingard and Louis, 2024; main text and appendices): the chapter and the section
(a heading or a ``:label:``) that reproduces it, how fully, and which paper-scale runs of the
results store a full reproduction needs. :func:`table` gives the rows of the appendix page
*The paper, item by item*, with the status checked against the store at build time: an item
that needs a run the store does not hold yet is shown as partial, with that reason.
``tests/test_paper_map.py`` keeps the map true: every chapter and anchor named must exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import experiments, store

STATUSES = ("full", "partial")


@dataclass(frozen=True)
class Item:
    """One item of the paper and its place in the book."""

    item: str                       # "Fig. 1(a)", "Theorem 4", ...
    content: str                    # what it is, in a few words
    chapter: str                    # the book's document name, e.g. "09_time_emergence"
    anchor: str                     # a section heading or a ``:label:`` in that chapter
    status: str = "full"            # "full" or "partial" (the book's own reach)
    note: str = ""                  # why partial, or what differs
    needs: tuple[str, ...] = ()     # store entries a full reproduction needs


ITEMS = (
    Item("Table 1", "the task's inputs, labels and skill functions", "01_task",
         "Table 1, from the generator"),
    Item("Fig. 1(a)", "time emergence in a two-layer network", "09_time_emergence",
         "Prediction against the network", needs=("calib_time", "mlp_time")),
    Item("Fig. 1(b)", "data emergence in a two-layer network", "10_data_emergence",
         "Three ways to use Eq. 17", needs=("calib_data", "mlp_data")),
    Item("Fig. 1(c)", "parameter emergence in a two-layer network", "11_parameter_emergence",
         "Parameter emergence in a two-layer network", needs=("calib_params", "mlp_params")),
    Item("Table 2", "the scaling laws: exponents and conditions", "a5_laws_at_a_glance",
         "The laws"),
    Item("Fig. 2(a)", "loss against time, three α", "04_time_law",
         "Figure 2(a): the loss against time"),
    Item("Fig. 2(b)", "loss against data, three α", "05_data_law",
         "Figure 2(b): the loss against data"),
    Item("Fig. 2(c)", "loss against parameters, three α", "06_parameter_law",
         "Figure 2(c): the loss against the number of parameters"),
    Item("Fig. 3", "loss against compute and its envelope", "07_compute_law",
         "Figure 3: loss against compute"),
    Item("Fig. 4", "time emergence in a transformer", "12_transformer", "The experiment",
         "partial", "a small configuration trained on the CPU; the paper's 10^6-step run needs "
         "days of GPU time (the chapter plans it)"),
    Item("Table 3", "Michaud et al.'s {0, 1} labels", "01_task",
         "Table 3: the original parity-bit labels"),
    Item("Fig. 5", "deep linear network: modes and their sigmoids", "03_dynamics",
         "The deep-linear-network connection",
         note="the schematics (a, b) are drawn by emergence.schematics; panel (c) is computed"),
    Item("Fig. 6", "stage-like training", "03_dynamics", "Stage-like training"),
    Item("Table 4", "exponents and the allocation of resources", "a5_laws_at_a_glance",
         "Exponents, prefactors and the compute-optimal allocation"),
    Item("Fig. 7", "the finite-N correction for small α", "04_time_law",
         "The finite-$N$ correction for small $\\alpha$"),
    Item("Fig. 8", "modes of a width-3 ReLU network", "08_calibration",
         "Why a network is slower: modes of a tiny ReLU network",
         note="the network diagram (a) is drawn by emergence.schematics; panel (b) is computed"),
    Item("Fig. 9", "the multilinear model and its delayed sigmoids", "03_dynamics",
         "Linear versus multilinear",
         note="panel (b) is computed here; the model diagram (a) is drawn in 'The model' "
              "by emergence.schematics"),
    Item("Fig. 10", "linear against multilinear dynamics", "03_dynamics",
         "Linear versus multilinear"),
    Item("Fig. 11", "calibration on one skill: time, data, width", "08_calibration",
         "Calibrating on one skill", needs=("calib_time", "calib_data", "calib_params")),
    Item("Table 5", "single runs at width 10", "11_parameter_emergence", "Run by run",
         needs=("mlp_params",)),
    Item("Fig. 12", "the transformer's emergence on a linear time axis", "12_transformer",
         "The experiment", "partial", "as Fig. 4: the CPU configuration, not the paper's run"),
    Item("Table 6", "the scaling laws with their theorems", "a5_laws_at_a_glance",
         "The laws"),
    Item("Theorem 1", "the parameter law with its prefactor", "06_parameter_law",
         "thm-06-param-law"),
    Item("Theorems 2, 3", "the time law: bounds and asymptotics", "04_time_law",
         "thm-04-time-law"),
    Item("Theorem 4", "the time law's prefactor A(λ)", "04_time_law",
         "The prefactor and the initial strength"),
    Item("Theorem 5", "the data law with its prefactor", "05_data_law", "thm-05-data-law"),
    Item("Corollary 1", "one example of a skill suffices", "03_dynamics", "cor-03-one-shot"),
    Item("Corollary 2", "one basis function per skill", "03_dynamics", "cor-03-one-basis"),
    Item("Corollary 3", "loss with finite N and T", "07_compute_law", "thm-07-compute"),
    Item("Corollary 4", "the compute-optimal law", "07_compute_law", "thm-07-compute"),
    Item("Corollary 5", "the compute law's prefactor", "07_compute_law",
         "Check 2: the prefactor"),
    Item("Proposition 1", "the D_c-shot learner (Eq. 17)", "08_calibration", "thm-08-dc-shot",
         note="stated for the projection strength and the loss; Eq. 17 is shown as the curve "
              "the networks follow, not as part of the theorem"),
    Item("Proposition 2", "the N_c-basis learner (Eq. 21)", "08_calibration",
         "thm-08-nc-basis"),
    Item("Eq. 13-14", "the calibrated time model", "08_calibration",
         "Time: the constant $B^2$",
         note="corrected: with one factor B the rate is multiplied by B, not B²"),
)


def missing_entries(item: Item, root: str | Path | None = None) -> list[str]:
    """The paper-scale runs ``item`` needs that the results store does not hold."""
    return [name for name in item.needs
            if not store.exists(name, experiments.config(name, "paper").to_dict(), root)]


def table(root: str | Path | None = None) -> list[tuple[str, str, str, str, str]]:
    """``(item, content, chapter, status, note)`` rows, with statuses checked against the store."""
    rows = []
    for entry in ITEMS:
        missing = missing_entries(entry, root)
        status, note = entry.status, entry.note
        if missing:
            status = "partial"
            note = "; ".join(filter(None, [note, f"paper-scale run{'s' if len(missing) > 1 else ''}"
                                                  f" {', '.join(missing)} not yet in the store: "
                                                  f"the chapter shows the quick profile"]))
        rows.append((entry.item, entry.content, entry.chapter, status, note))
    return rows
