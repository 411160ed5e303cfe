"""The ``lienthong`` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys


def _environment_help() -> str:
    from streams.settings import environment_table

    rows = environment_table()
    width = max(len(name) for name, _, _ in rows) + 2
    lines = [f"  {name:<{width}}{text} (default {default})" for name, default, text in rows]
    return "environment (read once at start):\n" + "\n".join(lines)


def _cluster(args: argparse.Namespace):
    """Where the topics are: the environment's cluster settings, with --bootstrap if given."""
    from streams.settings import ClusterSettings

    overrides = {"bootstrap_servers": args.bootstrap} if getattr(args, "bootstrap", None) else {}
    return ClusterSettings.from_env(**overrides)


def _worker(_: argparse.Namespace) -> int:
    from streams.settings import HubSettings

    settings = HubSettings.from_env()  # SettingsError: reported by main()
    from streams.worker import run

    sys.argv = [sys.argv[0], "worker"]
    run(settings)
    return 0


def _topics(args: argparse.Namespace) -> int:
    from infra.topics import provision

    cluster = _cluster(args)
    created = asyncio.run(provision(cluster.bootstrap_servers, cluster.topics.specs()))
    print("\n".join(f"created {name}" for name in created) or "all topics already exist")
    return 0


class HarnessMissing(Exception):
    """A harness command (demo, bench, sandbox) run where only the production package is installed."""


def _harness(module: str):
    """Import a harness module (``infra.harness.*``, ``infra.sandbox.*``); they are not in the wheel."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith(("infra.harness", "infra.sandbox")):
            raise HarnessMissing from exc
        raise


def _sandbox(args: argparse.Namespace) -> int:
    agencies = _harness("infra.sandbox.agencies")

    async def serve() -> None:
        cluster = _cluster(args)
        secret = os.environ.get("LIENTHONG_PAYMENT_SECRET")
        sandbox = agencies.SandboxAgencies(
            cluster.bootstrap_servers,
            cluster.topics,
            seed=args.seed,
            payment_secret=secret.encode() if secret else None,
        )
        await sandbox.start(args.population_port, args.insurance_port, args.payment_port)
        if not secret:
            print(
                "payment callbacks are signed with a fresh secret; start the worker with\n"
                f"  export LIENTHONG_PAYMENT_SECRET={sandbox.payment.secret.decode()}"
            )
        print(
            f"population REST  {sandbox.population_url}\ninsurance SOAP   {sandbox.insurance_address}"
            f"  (WSDL at ?wsdl)\npayment REST     {sandbox.payment.base_url}\n"
            f"justice, tax, portal on Kafka at {args.bootstrap}\nCtrl-C to stop",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await sandbox.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


def _onestop(args: argparse.Namespace) -> int:
    from connectors.soap_filing import FilingGateway
    from contracts.catalog import builtin_catalog, load_catalog

    async def serve() -> None:
        catalog = dict(builtin_catalog())
        if extra := os.environ.get("LIENTHONG_PROCEDURES_DIR"):
            from pathlib import Path

            catalog.update(load_catalog(Path(extra)))
        cluster = _cluster(args)
        gateway = FilingGateway(cluster.bootstrap_servers, cluster.topics, catalog, args.agency_eid)
        await gateway.start(args.port)
        print(f"one-stop SOAP gateway at {gateway.address} (WSDL at ?wsdl); Ctrl-C to stop", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await gateway.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


def _demo(args: argparse.Namespace) -> int:
    return _harness("infra.harness.demo").run(timeout_s=args.timeout, port=args.port)


def _bench(args: argparse.Namespace) -> int:
    return _harness("infra.harness.bench").run(args.messages, args.dossiers)


def _catalog(args: argparse.Namespace) -> int:
    from pathlib import Path

    from contracts.catalog import CatalogError, builtin_catalog, load_catalog

    try:
        procedures = load_catalog(Path(args.dir)) if args.dir else builtin_catalog()
    except CatalogError as exc:
        print(f"invalid procedure: {exc}", file=sys.stderr)
        return 1
    for proc in procedures.values():
        print(f"{proc.id}: {proc.title} (deadline {proc.deadline_working_days:g} working days)")
        for step in proc.steps:
            after = f" after {', '.join(step.depends_on)}" if step.depends_on else ""
            print(f"  {step.id:<24} {step.agency:<11} {step.action}{after}")
    return 0


def _schema(args: argparse.Namespace) -> int:
    import json

    from contracts.schemas import models, schema

    if args.list or not args.name:
        print("\n".join(sorted(models())))
        return 0
    try:
        print(json.dumps(schema(args.name), ensure_ascii=False, indent=2))
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from contracts.redact import mask_identifiers
    from infra.dlq import read_all, replay

    cluster = _cluster(args)
    letters = asyncio.run(read_all(cluster.bootstrap_servers, cluster.topics))
    chosen = [
        letter
        for letter in letters
        if (args.key is None or (letter.key or b"").decode(errors="replace") == args.key)
        and (args.stage is None or letter.headers.get("stage") == args.stage)
    ]
    for letter in chosen:
        key = (letter.key or b"").decode(errors="replace")
        print(
            f"{letter.partition}:{letter.offset}  {letter.headers.get('at', '?')}  "
            f"{letter.headers.get('stage', '?')}  key={key}  {mask_identifiers(letter.headers.get('reason', ''))}"
        )
    if args.action == "replay":
        if not chosen:
            print("nothing to replay", file=sys.stderr)
            return 1
        count = asyncio.run(replay(cluster.bootstrap_servers, chosen))
        print(f"replayed {count} record(s) to their source topics")
    elif not chosen:
        print("the dead-letter topic holds no matching records")
    return 0


def parser() -> argparse.ArgumentParser:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")  # shown as the default
    top = argparse.ArgumentParser(
        prog="lienthong",
        description="lienthong (liên thông): an event-driven integration hub linking a province's "
        "agency systems over Apache Kafka.",
        epilog="Start with `make demo`; see README.md.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser(
        "worker",
        help="run one hub worker (ingest, sagas, SOAP/REST bridges)",
        description="Run one hub worker in the foreground until SIGINT/SIGTERM. "
        "Configured by environment variables, read once at start "
        "(docs/operations.md lists the same).",
        epilog=_environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=_worker)

    p = sub.add_parser("topics", help="create every topic the hub uses (idempotent)")
    p.add_argument("--bootstrap", default=bootstrap, help="broker list (default %(default)s)")
    p.set_defaults(func=_topics)

    p = sub.add_parser("sandbox", help="run the simulated agencies in the foreground")
    p.add_argument("--bootstrap", default=bootstrap, help="broker list (default %(default)s)")
    p.add_argument("--population-port", type=int, default=8081, help="REST port (default %(default)s)")
    p.add_argument("--insurance-port", type=int, default=8082, help="SOAP port (default %(default)s)")
    p.add_argument("--payment-port", type=int, default=8083, help="payment REST port (default %(default)s)")
    p.add_argument("--seed", type=int, default=2026, help="synthetic citizens seed (default %(default)s)")
    p.set_defaults(func=_sandbox)

    p = sub.add_parser(
        "onestop-gateway",
        help="serve the SOAP filing endpoint for legacy one-stop systems",
        description="Legacy one-stop software files any catalog procedure with FileDossier "
        "and follows it with GetDossierStatus (contracts/wsdl/filing.wsdl).",
    )
    p.add_argument("--bootstrap", default=bootstrap, help="broker list (default %(default)s)")
    p.add_argument("--port", type=int, default=8091, help="HTTP port on 127.0.0.1 (default %(default)s)")
    p.add_argument(
        "--agency-eid",
        default="000.00.31.H26",
        help="e-ID used in dossier codes the gateway assigns (default %(default)s)",
    )
    p.set_defaults(func=_onestop)

    p = sub.add_parser(
        "demo",
        help="file sample dossiers end to end and show their progress",
        description="Start (or reuse) a local broker on --port, the sandbox agencies "
        "and a hub worker; file sample birth dossiers; print progress, "
        "timelines and a summary; stop what was started. Exits 0 when "
        "every dossier reached its expected final state. Set "
        "KAFKA_BOOTSTRAP_SERVERS to use an existing cluster instead.",
    )
    p.add_argument("--timeout", type=float, default=90, help="seconds to wait for outcomes (default %(default)s)")
    p.add_argument("--port", type=int, default=9092, help="local broker port (default %(default)s)")
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "bench",
        help="measure throughput on a local broker (see docs/benchmarks.md)",
        description="Bare aiokafka relay throughput, then birth dossiers end to end "
        "through one hub worker and the sandbox agencies.",
    )
    p.add_argument("--messages", type=int, default=20000, help="records for the relay (default %(default)s)")
    p.add_argument("--dossiers", type=int, default=200, help="dossiers end to end (default %(default)s)")
    p.set_defaults(func=_bench)

    p = sub.add_parser("catalog", help="validate and list procedures")
    p.add_argument("--dir", help="a folder of procedure files (default: the shipped catalog)")
    p.set_defaults(func=_catalog)

    p = sub.add_parser(
        "dlq",
        help="list or replay dead-lettered messages",
        description="List the records on the dead-letter topic with their reasons, "
        "or replay the chosen ones to the topic they came from (after the "
        "cause is fixed). Replayed records keep their original bytes.",
    )
    p.add_argument("action", choices=["list", "replay"])
    p.add_argument("--key", help="only records with this key (a dossier code)")
    p.add_argument("--stage", help="only records dead-lettered at this stage, e.g. ingest.justice")
    p.add_argument("--bootstrap", default=bootstrap, help="broker list (default %(default)s)")
    p.set_defaults(func=_dlq)

    p = sub.add_parser("schema", help="print the JSON Schema of a contract (for agency developers)")
    p.add_argument("name", nargs="?", help="e.g. envelope, justice-birth-filing, step-reply")
    p.add_argument("--list", action="store_true", help="list the schema names")
    p.set_defaults(func=_schema)
    return top


def main(argv: list[str] | None = None) -> int:
    from contracts.errors import SettingsError

    args = parser().parse_args(argv)
    if args.command != "worker":
        from streams import logs

        logs.configure(os.environ.get("LIENTHONG_LOG_LEVEL", "warning"))
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"lienthong {args.command}: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except HarnessMissing:
        print(
            f"lienthong {args.command}: needs the test harness (infra/harness, infra/sandbox), which the "
            "installed package leaves out; run it from a source checkout (pip install -e .)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
