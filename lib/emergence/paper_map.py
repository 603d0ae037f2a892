"""Where the book reproduces each figure, table and result of its papers, and how fully.

One :class:`Item` per figure, table, theorem, corollary and proposition of the paper (Nam,
Fonseca, Lee, Mingard and Louis, 2024; main text and appendices), and per headline result of the
three papers Part IV reproduces (``PAPERS``): the chapter and the section
(a heading or a ``:label:``) that reproduces it, how fully, and which paper-scale runs of the
results store a full reproduction needs. :func:`table` gives the rows of the appendix page
*The papers, item by item*, with the status checked against the store at build time: an item
that needs a run the store does not hold yet is shown as partial, with that reason.
``tests/test_paper_map.py`` keeps the map true: every chapter and anchor named must exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import experiments, store

STATUSES = ("full", "partial")
MAIN_PAPER = "nam2024exactly"
PAPERS = {  # bibliography key: how the appendix names the paper, in the book's order
    MAIN_PAPER: "Nam, Fonseca, Lee, Mingard and Louis (2024)",
    "barak2022hidden": "Barak, Edelman, Goel, Kakade, Malach and Zhang (2022)",
    "edelman2023pareto": "Edelman, Goel, Kakade, Malach and Zhang (2023)",
    "edelman2024evolution": "Edelman, Edelman, Goel, Malach and Tsilivis (2024)",
}


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
    paper: str = MAIN_PAPER         # a key of PAPERS


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
    # Part IV: Barak et al. (2022), chapter 13
    Item("Fig. 1 (left)", "plateau, then an abrupt drop, on the (50, 3)-parity",
         "13_hidden_progress", "The task and its plateau", "partial",
         "three architectures at one batch size and rate (B = 32, η = 0.1), not the paper's "
         "spread of architectures, batches and rates", needs=("parity_curves",),
         paper="barak2022hidden"),
    Item("Finding 1", "t_c grows like n^O(k): the (n, k) grid, 25 trials per cell",
         "13_hidden_progress", "Time to success over $n$ and $k$", "partial",
         "the full grid and success criterion at one point of the paper's sweep (width-1000 ReLU, "
         "B = 32, η = 0.1, hinge, Glorot init)", needs=("parity_grid",), paper="barak2022hidden"),
    Item("Fig. 2 (left, centre)", "not a random search: no early successes; t_c set by the init",
         "13_hidden_progress", "Not a random search", "partial",
         "10^3 trials instead of 10^6; the shared-init test at B = 32, η = 0.1 instead of "
         "B = 128, η = 0.01", needs=("parity_search",), paper="barak2022hidden"),
    Item("Fig. 2 (right)", "the exponent of t_c grows with n", "13_hidden_progress",
         "Time to success over $n$ and $k$", "partial",
         "not seen: the grid's n <= 30 is too small; the chapter says so",
         paper="barak2022hidden"),
    Item("Figs. 3, 12, 13", "progress measures rise while the loss is flat; random-label control",
         "13_hidden_progress", "Hidden progress made visible", "partial",
         "an MLP on the (15, 4)-parity; the book's gap of the exact gradient falls during the "
         "plateau where the paper's grows (the paper's statistic for an MLP is not known)",
         needs=("parity_progress",), paper="barak2022hidden"),
    Item("Def. 1, Theorem 4", "the Fourier gap of a neuron's population gradient",
         "13_hidden_progress", "thm-13-gap", "partial",
         "the gap derived and checked by enumeration; the end-to-end learning guarantee of "
         "Theorem 4 is stated, not proved", paper="barak2022hidden"),
    Item("Theorems 6-7", "the disjoint PolyNet's plateau", "13_hidden_progress",
         "thm-13-polynet", "partial",
         "gradient flow solved exactly, the error in a Gaussian approximation; the online-SGD "
         "bound of Theorem 7 is not derived", paper="barak2022hidden"),
    # Part IV: Edelman, Goel, Kakade, Malach and Zhang (2023), chapter 14
    Item("Proposition 3", "the statistical-query bound as a four-resource frontier",
         "14_width_data_luck", "prop-14-frontier",
         note="proved in the book's words; the paper's exact constants were not available",
         paper="edelman2023pareto"),
    Item("Theorem 4", "sparse initialisation: lottery-ticket units", "14_width_data_luck",
         "prop-14-tickets", "partial",
         "the ticket probability and 1 - e^(-rp) law derived and counted; the theorem's "
         "sample bound is not proved", paper="edelman2023pareto"),
    Item("Figs. 1, 2, 4", "success over width and sample size, dense and sparse init",
         "14_width_data_luck", "Success over width and data", "partial",
         "one (n, k) = (20, 3), widths up to 300, 6 seeds per cell; width helps as in the paper, "
         "but the data advantage of sparse init is not seen at this scale",
         needs=("pareto_grid",), paper="edelman2023pareto"),
    Item("Fig. 5", "prune to a few units, rewind, retrain", "14_width_data_luck",
         "Prune, rewind, retrain", "partial",
         "the online (20, 3)-parity instead of (50, 5)", paper="edelman2023pareto"),
    # Part IV: Edelman, Edelman, Goel, Malach and Tsilivis (2024), chapter 15
    Item("Task and strategies", "ICL-MC; the Bayes-optimal (add-one bigram), unigram and uniform "
         "predictors", "15_induction_heads", "thm-15-bayes", paper="edelman2024evolution"),
    Item("Fig. 1", "uniform, unigram, bigram: three stages of a two-layer transformer",
         "15_induction_heads", "The transformer and its three stages",
         note="10 seeds at the released code's learning rate 5e-4, not the text's 3e-5",
         needs=("icl_markov",), paper="edelman2024evolution"),
    Item("Minimal model", "two factors, one stage: the simplified two-layer model",
         "15_induction_heads", "thm-15-no-gradient", "partial",
         "the paper's exact definition of the minimal model is not known; the book's version "
         "and its zero-gradient theorem are its own", paper="edelman2024evolution"),
    Item("Unigram delays bigram", "a prior without unigram signal speeds up the bigram stage",
         "15_induction_heads", "The unigram solution delays the bigram one", "partial",
         "the book takes the unigram signal out of Dirichlet chains (fractions 0, 1/2, 1 of "
         "doubly stochastic chains) where the paper adds unigram-only chains to doubly "
         "stochastic ones; with k = 3, as the paper, the transformer's delay is clear at both "
         "fractions; with k = 2 it is short of two standard errors at f = 1/2, and f = 1 "
         "rewards a pooled rule",
         needs=("icl_markov", "icl_prior_half", "icl_prior_mix", "icl_k3", "icl_k3_prior_half",
                "icl_k3_prior_mix"),
         paper="edelman2024evolution"),
    Item("n-grams", "a stage per order: uniform, unigram, bigram, trigram", "15_induction_heads",
         "More memory: a stage for every order", "partial",
         "trigrams with k = 2 and 5 seeds; higher orders not run", needs=("icl_trigram",),
         paper="edelman2024evolution"),
)


def missing_entries(item: Item, root: str | Path | None = None) -> list[str]:
    """The paper-scale runs ``item`` needs that the results store does not hold."""
    return [name for name in item.needs
            if not store.exists(name, experiments.config(name, "paper").to_dict(), root)]


def table(root: str | Path | None = None,
          paper: str = MAIN_PAPER) -> list[tuple[str, str, str, str, str]]:
    """``(item, content, chapter, status, note)`` rows of one paper (a key of ``PAPERS``),
    with statuses checked against the store."""
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {list(PAPERS)}, got {paper!r}")
    rows = []
    for entry in (item for item in ITEMS if item.paper == paper):
        missing = missing_entries(entry, root)
        status, note = entry.status, entry.note
        if missing:
            status = "partial"
            note = "; ".join(filter(None, [note, f"paper-scale run{'s' if len(missing) > 1 else ''}"
                                                  f" {', '.join(missing)} not yet in the store: "
                                                  f"the chapter shows the quick profile"]))
        rows.append((entry.item, entry.content, entry.chapter, status, note))
    return rows


def markdown(paper: str = MAIN_PAPER, root: str | Path | None = None) -> str:
    """One paper's rows as a Markdown table (chapters as ``{doc}`` links), and a count line."""
    rows = table(root, paper)
    lines = ["| item | what | chapter | status | note |", "|---|---|---|---|---|"]
    lines += [f"| {item} | {what} | {{doc}}`{chapter}` | {status} | {note} |"
              for item, what, chapter, status, note in rows]
    full = sum(status == "full" for *_, status, _ in rows)
    return "\n".join(lines) + f"\n\n{full} of {len(rows)} items reproduced in full."
