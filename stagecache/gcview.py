"""``stagecache gc``'s report as text: what was (or would be) deleted, and what a template
makes but gc keeps, with the reason."""

from __future__ import annotations

import time

from stagecache.benchreport import size_text
from stagecache.gc import Entry, Report


def render(report: Report, now: float | None = None) -> str:
    """The report as a table (the dry run says so first)."""
    now = time.time() if now is None else now
    lines = [
        "stagecache gc: dry run, nothing deleted (--yes deletes)"
        if report.dry_run
        else f"stagecache gc: stopped ({report.failure}); what it deleted before is listed"
        if report.failure
        else "stagecache gc: deleted",
        f"alive branches: {', '.join(report.alive)} (from {report.alive_from})",
        *(f"note: {n}" for n in report.notes),
    ]
    doomed = [e for e in report.entries if not e.kept]
    done = [e for e in doomed if e.deleted] if not report.dry_run else doomed
    left = [e for e in doomed if not e.deleted] if not report.dry_run else []
    heading = "would delete" if report.dry_run else "deleted"
    lines += _section(heading, done, now)
    if left:
        lines += _section("not deleted (gc stopped before them)", left, now)
    kept = [e for e in report.entries if e.kept]
    if kept:
        lines += ["", "kept, although a template makes them:"]
        lines += [f"  {e.name}: {e.kept}" for e in kept]
    freed = size_text(report.freed)
    lines += ["", f"{'would free' if report.dry_run else 'freed'} {freed} ({len(done)} entries)."]
    if not report.dry_run and any(e.where == "registry" and e.deleted for e in report.entries):
        lines.append(
            "The registry frees the blobs' storage when its garbage collector runs "
            "(registry garbage-collect, or the hosted registry's own schedule)."
        )
    return "\n".join(lines)


def _section(heading: str, entries: list[Entry], now: float) -> list[str]:
    if not entries:
        return ["", f"{heading}: nothing"]
    rows = [("WHAT", "BRANCH", "STAGE", "TAG OR FOLDER", "DIGEST", "AGE", "SIZE", "WHY")]
    for e in entries:
        age = "?" if e.written is None else f"{(now - e.written) / 86400:.1f}d"
        rows.append((e.kind, e.branch or "-", e.stage, e.name, e.digest[:19] or "-", age, size_text(e.size), e.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    table = ["  " + "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    return ["", f"{heading}:", *(t.rstrip() for t in table)]
