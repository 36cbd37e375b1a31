"""hecated's metric catalogue, read from server/metrics/hecate_metrics.cc, and
a check that a PromQL expression only names series that catalogue exports.

    catalogue = load_catalogue(path_to_hecate_metrics_cc)
    catalogue["hecate_errors_total"]   # Metric(kind="counter", labels=("method", "code"))
    problems = check_expression(expr, catalogue, target_labels={"namespace", "pod"})

The catalogue is parsed from the AddX(registry, "name", ..., {labels}, ...)
calls, so a renamed or removed metric fails the dashboard and alert tests.
"""

import dataclasses
import re
from typing import Dict, Iterable, List, Set, Tuple

# AddHistogram(registry, / AddCounter( / AddGauge( / AddCallbackGauge( / AddSummary(
_ADD_CALL = re.compile(
    r'\bAdd(Histogram|Counter|Gauge|CallbackGauge|Summary)\(\s*registry,\s*"([a-z_:][a-z0-9_:]*)"')
# The label list: the first brace group made only of string literals (or
# empty) after the name and help text.
_LABEL_LIST = re.compile(r'\{((?:\s*"[a-zA-Z_][a-zA-Z0-9_]*"\s*,?)*)\s*\}')
_KINDS = {"Histogram": "histogram", "Counter": "counter", "Gauge": "gauge",
          "CallbackGauge": "gauge", "Summary": "summary"}

# Labels Prometheus itself attaches to every scraped series.
SCRAPE_LABELS = frozenset({"job", "instance"})
# Series that are not hecated's but that the configs may use.
FOREIGN_SERIES = {
    "up": frozenset({"job", "instance"}),
    # kube-state-metrics
    "kube_pod_status_ready": frozenset({"namespace", "pod", "condition", "uid"}),
}

# PromQL words that look like identifiers but are not series names.
_PROMQL_WORDS = frozenset("""
    sum min max avg group stddev stdvar count count_values bottomk topk quantile
    by without on ignoring group_left group_right bool and or unless offset
    rate irate increase delta idelta deriv predict_linear histogram_quantile
    abs absent absent_over_time ceil floor round clamp clamp_max clamp_min
    changes resets label_replace label_join sort sort_desc time timestamp vector
    scalar sgn exp ln log2 log10 sqrt avg_over_time min_over_time max_over_time
    sum_over_time count_over_time last_over_time quantile_over_time
    stddev_over_time present_over_time holt_winters day_of_month day_of_week
    days_in_month hour minute month year inf nan
""".split())


@dataclasses.dataclass(frozen=True)
class Metric:
    """One metric family hecated registers: its kind and label names."""
    kind: str  # histogram, counter, gauge, summary
    labels: Tuple[str, ...]


def load_catalogue(cc_path: str) -> Dict[str, Metric]:
    """{family name: Metric} for every AddX(registry, ...) call in `cc_path`.

    Raises ValueError when the file has none (a moved or rewritten file must
    fail the tests, not make every expression look unknown).
    """
    with open(cc_path, encoding="utf-8") as f:
        text = f.read()
    catalogue: Dict[str, Metric] = {}
    for match in _ADD_CALL.finditer(text):
        kind, name = _KINDS[match.group(1)], match.group(2)
        # Arguments end at the closing parenthesis of the call; the label list
        # is the first all-literal brace group inside them (AddGauge without
        # labels has none).
        depth, end = 1, match.end()
        while depth and end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        labels_match = _LABEL_LIST.search(text, match.end(), end)
        labels = tuple(re.findall(r'"([^"]+)"', labels_match.group(1))) if labels_match else ()
        catalogue[name] = Metric(kind, labels)
    if not catalogue:
        raise ValueError(f"no AddX(registry, \"hecate_...\") calls found in {cc_path}")
    return catalogue


def series_labels(name: str, catalogue: Dict[str, Metric]) -> Set[str]:
    """Labels a scraped series `name` can carry (without target labels), or
    raises KeyError when hecated exports no such series."""
    if name in FOREIGN_SERIES:
        return set(FOREIGN_SERIES[name])
    for base, metric in catalogue.items():
        labels = set(metric.labels)
        if metric.kind == "histogram":
            if name == base + "_bucket":
                return labels | {"le"}
            if name in (base + "_sum", base + "_count"):
                return labels
        elif metric.kind == "summary":
            if name == base:
                return labels | {"quantile"}
            if name in (base + "_sum", base + "_count"):
                return labels
        elif name == base:
            return labels
    raise KeyError(name)


def _strip_strings(expr: str) -> str:
    """`expr` with every string literal emptied (label values, regexes)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def series_in(expr: str) -> List[Tuple[str, List[str]]]:
    """(series name, [label names in its {matchers}]) for every selector."""
    found = []
    text = _strip_strings(expr)
    # Remove range/offset durations and grouping clauses before scanning.
    text = re.sub(r"\[[^\]]*\]", "", text)
    grouping = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
    scan = grouping.sub(" ", text)
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?", scan):
        name, matchers = match.group(1), match.group(2)
        after = scan[match.end():].lstrip()
        if name.lower() in _PROMQL_WORDS or after.startswith("("):
            continue
        if re.fullmatch(r"\d+(ms|s|m|h|d|w|y)?", name):
            continue
        labels = re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers or "")
        found.append((name, labels))
    return found


def grouping_labels(expr: str) -> List[str]:
    """Label names in by(...), without(...), on(...), ignoring(...)."""
    labels = []
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", _strip_strings(expr)):
        labels += [label.strip() for label in group.split(",") if label.strip()]
    return labels


def check_expression(expr: str, catalogue: Dict[str, Metric],
                     target_labels: Iterable[str]) -> List[str]:
    """Problems with `expr` ([] when none): a series hecated does not export,
    a matcher on a label its series lacks, or a by/on/ignoring/without label
    that no series of the expression carries. `target_labels` are the labels
    Prometheus' relabelling adds to every hecated series (namespace, pod)."""
    problems = []
    known_extra = set(target_labels) | SCRAPE_LABELS
    available: Set[str] = set(known_extra)
    selectors = series_in(expr)
    if not selectors:
        problems.append(f"no series selector in {expr!r}")
    for name, matcher_labels in selectors:
        try:
            labels = series_labels(name, catalogue) | known_extra
        except KeyError:
            problems.append(f"{name}: not a series hecated exports (server/metrics/hecate_metrics.cc)")
            continue
        available |= labels
        for label in matcher_labels:
            if label not in labels:
                problems.append(f"{name}{{{label}=...}}: {name} has no label {label!r}")
    for label in grouping_labels(expr):
        if label not in available:
            problems.append(f"grouping by {label!r}: no series in {expr!r} has that label")
    return problems
