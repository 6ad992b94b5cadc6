"""``ragdag datasets list | show VERSION|latest | diff A B``: the published instruct datasets."""

from __future__ import annotations

import argparse
import json


def _list(args: argparse.Namespace) -> int:
    from ragdag.datasets.catalog import list_versions
    from ragdag.settings import get_settings

    manifests = list_versions(get_settings())
    if args.json:
        print(json.dumps([m.model_dump(mode="json", include=_SUMMARY) for m in manifests], indent=2))
        return 0
    if not manifests:
        print("no dataset versions published yet")
        return 0
    print(f"{'version':20s} {'created':20s} {'generator':9s} {'train':>6s} {'test':>5s} {'pref':>5s} {'docs':>5s}")
    for m in manifests:
        generator = m.generation.generator if m.generation else "?"
        print(
            f"{m.version:20s} {m.created_at:%Y-%m-%d %H:%M:%S} {generator:9s} {m.train_samples:6d} "
            f"{m.test_samples:5d} {m.preference_train_samples + m.preference_test_samples:5d} "
            f"{len(m.source_documents):5d}"
        )
    return 0


_SUMMARY = {
    "version",
    "created_at",
    "train_samples",
    "test_samples",
    "preference_train_samples",
    "preference_test_samples",
    "manifest_uri",
    "built_by_run_id",
}


def _show(args: argparse.Namespace) -> int:
    from ragdag.datasets.catalog import show_version
    from ragdag.settings import get_settings

    try:
        details = show_version(get_settings(), args.version)
    except (LookupError, RuntimeError) as error:
        print(f"error: {error}")
        return 1
    if args.json:
        print(details.model_dump_json(indent=2))
        return 0
    m = details.manifest
    print(
        f"version {m.version}{' (latest)' if details.is_latest else ''}, built by run {m.built_by_run_id} "
        f"at {m.created_at:%Y-%m-%d %H:%M:%S} UTC, code {m.code_version}"
    )
    if m.generation:
        g = m.generation
        print(
            f"generator {g.generator} ({g.generator_version}{', model ' + g.model if g.model else ''}"
            f"{', prompt ' + g.prompt_version if g.prompt_version else ''}); tokens {g.tokens or 0}"
        )
    print(
        f"samples: train {m.train_samples}, test {m.test_samples}; preference train {m.preference_train_samples}, "
        f"test {m.preference_test_samples}; from {m.extracts} extracts of {len(m.source_documents)} documents"
    )
    for f in m.filters:
        print(f"  filter {f.name:18s} {f.before:5d} -> {f.after:5d}{f'  ({f.changed} changed)' if f.changed else ''}")
    if m.decontamination:
        print(
            f"  decontamination: {m.decontamination.get('dropped', 0)} test samples dropped "
            f"({m.decontamination.get('ngram')}-word overlap with train)"
        )
    if m.quality:
        print(
            f"quality gate: {'passed' if m.quality.success else 'failed'} (suite {m.quality.suite} "
            f"v{m.quality.suite_version}), report {m.quality.report_uri}"
        )
    broken = [name for name, ok in details.files_intact.items() if not ok]
    print("files: all checksums match" if not broken else f"files: CHECKSUM MISMATCH in {', '.join(broken)}")
    if details.card:
        print("\n" + details.card)
    return 0 if not broken else 1


def _diff(args: argparse.Namespace) -> int:
    from ragdag.datasets.catalog import diff_versions
    from ragdag.settings import get_settings

    try:
        diff = diff_versions(get_settings(), args.a, args.b)
    except (LookupError, RuntimeError) as error:
        print(f"error: {error}")
        return 1
    if args.json:
        print(diff.model_dump_json(indent=2))
        return 0
    print(f"{diff.a} -> {diff.b}")
    print(
        f"documents: {len(diff.documents_added)} added, {len(diff.documents_removed)} removed, "
        f"{len(diff.documents_changed)} changed"
    )
    for label, ids in (("+", diff.documents_added), ("-", diff.documents_removed), ("~", diff.documents_changed)):
        for doc_id in ids:
            print(f"  {label} {doc_id}")
    for split, c in diff.samples.items():
        print(f"{split:17s} {c['a']:5d} -> {c['b']:5d} ({c['delta']:+d})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    datasets = sub.add_parser("datasets", help="List, show and compare the published instruct dataset versions.")
    actions = datasets.add_subparsers(dest="datasets_command", required=True)
    listing = actions.add_parser("list", help="Every published version, newest first.")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)
    show = actions.add_parser("show", help="Counts, filters, generator, checksums and the card of a version.")
    show.add_argument("version", help="a version (v-...) or `latest`")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)
    diff = actions.add_parser("diff", help="Documents added / removed / changed and sample counts between versions.")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(func=_diff)
