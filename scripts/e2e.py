#!/usr/bin/env python
"""The platform as users run it: a real Airflow, the chain triggered and followed over the REST API.

Starts, all on this machine and all stopped at the end:

- the sample site (``ragdag.demo.site``) on a loopback port;
- ragdag's embedded MongoDB (or the one in ``--mongo-uri``);
- Airflow 3 (api-server, scheduler, dag-processor, triggerer) with the bundle's DAGs, in a
  temporary ``AIRFLOW_HOME`` (``airflow_local``, beside this script: the e2e harness);

then, with the official ``apache-airflow-client``: gets a token (``POST /auth/token``), triggers
``crawl_sources`` with a conf naming the sample site's pages, and follows the chain until each of the
five DAGs has a run, started by the Asset event of the one before, that ended in success (each run's
id and duration printed). It also triggers ``crawl_sources`` with a bad conf and checks that the run
fails in ``plan_targets``.

    .venv/bin/python scripts/e2e.py                # exit code 0 when all of it passed (~1.5 min)
    .venv/bin/python scripts/e2e.py --keep         # then keep it all up to look at the UI; Ctrl-C ends
    .venv/bin/python scripts/e2e.py --serve-only   # start it all, trigger nothing (docs/rest-api.md)

Run it with the venv's Python (``scripts/bootstrap.sh`` makes it).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

BAD_CONF = {"author": "x", "links": ["ftp://nope"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--author", default="Jane Doe")
    parser.add_argument("--mongo-uri", help="use this MongoDB instead of starting the embedded one")
    parser.add_argument("--work-dir", type=Path, help="where Airflow's home and the data go (default: a temp dir)")
    parser.add_argument(
        "--chain-timeout", type=float, default=1800.0, help="seconds for the whole chain (a hang guard: 3-6 min here)"
    )
    parser.add_argument("--bad-conf-timeout", type=float, default=300.0, help="seconds for the bad-conf run")
    parser.add_argument("--no-bad-conf", action="store_true", help="skip the bad-conf check")
    parser.add_argument("--keep", action="store_true", help="keep everything running until Ctrl-C")
    parser.add_argument(
        "--serve-only",
        action="store_true",
        help="start everything and trigger nothing (to try the REST API or the UI by hand); Ctrl-C stops",
    )
    args = parser.parse_args(argv)
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C: the finally blocks stop Airflow and MongoDB.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    work = (args.work_dir or Path(tempfile.mkdtemp(prefix="ragdag-e2e-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    # This process imports Airflow too (the Assets of ragdag.assets): keep its home in the work dir.
    os.environ["AIRFLOW_HOME"] = str(work / "airflow-home")

    from airflow_local import api_client, local_airflow

    from ragdag.demo.site import sample_links, sample_sources, serve_sample_site
    from ragdag.demo.social_apis import demo_post_sources, serve_social_apis
    from ragdag.stores import embedded_mongo

    started = time.perf_counter()
    mongo_dir = work / "mongodb"
    mongo_uri = args.mongo_uri or embedded_mongo.start(mongo_dir, embedded_mongo.free_port()).uri
    ok = True
    try:
        with (
            serve_sample_site() as site,
            serve_social_apis() as social,
            local_airflow(work / "data", mongo_uri=mongo_uri, home=work / "airflow-home") as airflow,
        ):
            print(
                f"Airflow {airflow.base_url} up in {time.perf_counter() - started:.1f}s "
                f"(user {airflow.username!r}, password {airflow.password!r}, home {airflow.home})"
            )
            print(f"sample site {site}, Mastodon and Bluesky APIs {social}, MongoDB {mongo_uri}")
            if args.serve_only:
                print("sample pages:\n  " + "\n  ".join(sample_links(site)))
            else:
                with api_client(airflow) as client:
                    posts = demo_post_sources(social, work / "data")
                    ok = _run_checks(client, sample_sources(site, work / "data"), args, posts=posts)
                if ok:
                    _print_where_to_look(airflow, work / "data", mongo_uri)
            if args.keep or args.serve_only:
                print(f"Airflow stays up at {airflow.base_url} (Ctrl-C stops everything)", flush=True)
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
    finally:
        if not args.mongo_uri:
            embedded_mongo.stop(mongo_dir)
    print(f"{'PASSED' if ok else 'FAILED'} in {time.perf_counter() - started:.1f}s (work dir {work})")
    return 0 if ok else 1


def _print_where_to_look(airflow, data_dir: Path, mongo_uri: str) -> None:
    """What the chain wrote, read through the same stores and settings the tasks used."""
    import json

    from ragdag.demo.summary import platform_summary
    from ragdag.settings import get_settings
    from ragdag.stores.mongo import as_airflow_mongo_conn

    os.environ["RAGDAG_DATA_DIR"] = str(data_dir)
    os.environ["AIRFLOW_CONN_MONGO_DEFAULT"] = as_airflow_mongo_conn(mongo_uri)
    get_settings.cache_clear()
    print(json.dumps(platform_summary(get_settings()), indent=2, default=str))
    print(
        f"UI: {airflow.base_url} (login {airflow.username!r} / {airflow.password!r}); "
        f"MongoDB: {mongo_uri} (database ragdag); Qdrant local mode: {data_dir / 'qdrant'}; "
        f"datasets and models: {data_dir / 'object-store'}; model registry: MongoDB ragdag.model_registry"
    )


def _run_checks(client, links: list[str], args: argparse.Namespace, *, posts: list[dict] | None = None) -> bool:
    from airflow_local import ChainFailed, trigger_dag, wait_for_chain

    from ragdag.assets import CHAIN_DAG_IDS

    conf = {"author": args.author, "links": links, "posts": posts or []}
    first = trigger_dag(client, "crawl_sources", conf)
    print(
        f"triggered crawl_sources {first.dag_run_id} with {len(links)} links, {len(posts or [])} posts sources",
        flush=True,
    )
    bad: dict[str, str] = {}

    def on_run(run) -> None:
        print(f"  {run.dag_id:24s} {run.state:8s} {run.seconds:7.1f}s  {run.run_type:16s} {run.run_id}", flush=True)
        if run.dag_id == "crawl_sources" and not args.no_bad_conf:
            # crawl_sources runs one at a time: the bad conf goes right after the good one.
            bad["run_id"] = trigger_dag(client, "crawl_sources", BAD_CONF).dag_run_id

    ok = True
    chain_started = time.perf_counter()
    try:
        runs = wait_for_chain(client, first.dag_run_id, timeout_s=args.chain_timeout, on_run=on_run)
        print(
            f"chain: all {len(runs)} DAGs succeeded, {time.perf_counter() - chain_started:.1f}s "
            "from the trigger to the end of the last run"
        )
        if len(runs) < len(CHAIN_DAG_IDS):
            print(
                f"  the chain ended after {runs[-1].dag_id}: it emitted no Asset event, so nothing "
                "downstream was due (e.g. unchanged data: no new dataset version, no training)"
            )
    except ChainFailed as error:
        ok = False
        print(f"CHAIN FAILED: {error}", file=sys.stderr)
    if not args.no_bad_conf:
        ok = _check_bad_conf(client, bad.get("run_id"), args.bad_conf_timeout) and ok
    return ok


def _check_bad_conf(client, run_id: str | None, timeout_s: float) -> bool:
    import airflow_client.client as af
    from airflow_local import ChainFailed, failure_report, trigger_dag, wait_for_run

    run_id = run_id or trigger_dag(client, "crawl_sources", BAD_CONF).dag_run_id
    print(f"bad conf {BAD_CONF}: crawl_sources {run_id}", flush=True)
    try:
        run = wait_for_run(client, "crawl_sources", run_id, timeout_s)
    except ChainFailed as error:
        print(f"BAD CONF RUN DID NOT END: {error}", file=sys.stderr)
        return False
    task_instances = af.TaskInstanceApi(client).get_task_instances("crawl_sources", run_id).task_instances
    tis = {ti.task_id: ti for ti in task_instances}
    plan_state = str(getattr(tis["plan_targets"].state, "value", tis["plan_targets"].state))
    run_state = str(getattr(run.state, "value", run.state))
    print(f"  run {run_state} (ran {run.duration or 0:.1f}s), plan_targets {plan_state}")
    if run_state != "failed" or plan_state != "failed":
        print(f"BAD CONF NOT REJECTED as expected:\n{failure_report(client, 'crawl_sources', run_id)}", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
