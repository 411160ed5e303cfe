"""The ``lienthong`` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path


def _environment_help() -> str:
    from streams.settings import environment_table

    rows = environment_table()
    width = max(len(name) for name, _, _ in rows) + 2
    lines = [f"  {name:<{width}}{text} (default {default})" for name, default, text in rows]
    return "environment (read once at start):\n" + "\n".join(lines)


def _cluster(args: argparse.Namespace):
    """Where the topics are: the environment's cluster settings, with --bootstrap and
    --client-properties if given."""
    from streams.settings import ClusterSettings

    flags = {"bootstrap_servers": "bootstrap", "kafka_client_properties": "client_properties"}
    overrides = {field: value for field, flag in flags.items() if (value := getattr(args, flag, None))}
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
    created = asyncio.run(provision(cluster.kafka_client(), cluster.topics, cluster.group_id))
    print("\n".join(f"created {name}" for name in created) or "all topics already exist")
    print("ACLs from the agency registry in force")
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from infra.harness import broker
    from infra.sandbox import agencies

    async def serve() -> None:
        cluster = _cluster(args)
        secret = os.environ.get("LIENTHONG_PAYMENT_SECRET")
        keyring = os.environ.get("LIENTHONG_KEYRING")
        sandbox = agencies.SandboxAgencies(
            broker.ClientFiles(Path(args.clients_dir), cluster.bootstrap_servers),
            cluster.topics,
            seed=args.seed,
            payment_secret=secret.encode() if secret else None,
            keyring=Path(keyring) if keyring else None,
        )
        await sandbox.start(args.population_port, args.insurance_port, args.payment_port)
        if not secret:
            print(
                "payment callbacks are signed with a fresh secret; start the worker with\n"
                f"  export LIENTHONG_PAYMENT_SECRET={sandbox.payment.secret.decode()}"
            )
        if not keyring:
            print(f"signing keys are fresh; start the worker with\n  export LIENTHONG_KEYRING={sandbox.keyring}")
        print(
            f"population REST  {sandbox.population_url}\ninsurance SOAP   {sandbox.insurance_address}"
            f"  (WSDL at ?wsdl)\npayment REST     {sandbox.payment.base_url}\n"
            "justice, tax, portal on Kafka, each as its own principal\nCtrl-C to stop",
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
    from connectors.wsse import load_callers
    from contracts.catalog import builtin_catalog, load_catalog
    from contracts.errors import SettingsError

    callers = load_callers(args.callers)  # SettingsError naming LIENTHONG_ONESTOP_CALLERS: no caller, no gateway
    if not args.keyring:
        raise SettingsError("LIENTHONG_KEYRING (or --keyring): required to sign filings and check the hub's statuses")

    async def serve() -> None:
        catalog = dict(builtin_catalog())
        if extra := os.environ.get("LIENTHONG_PROCEDURES_DIR"):
            catalog.update(load_catalog(Path(extra)))
        cluster = _cluster(args)
        gateway = FilingGateway(
            cluster.kafka_client(), cluster.topics, catalog, callers, args.auth_window, keyring=Path(args.keyring)
        )
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


def _onestop_callers(args: argparse.Namespace) -> int:
    from connectors.wsse import write_callers

    if Path(args.file).exists():
        print(f"lienthong onestop-callers: {args.file} exists; remove it first to issue new secrets", file=sys.stderr)
        return 2
    pairs = [c.partition("=") for c in args.callers]
    if any(not name or not prefix for name, _, prefix in pairs):
        print("lienthong onestop-callers: give each caller as USERNAME=PREFIX", file=sys.stderr)
        return 2
    callers = write_callers(args.file, {name: prefix for name, _, prefix in pairs})
    for caller in callers.values():
        print(f"{caller.username:<20} files under {caller.prefix}")
    print(f"wrote {args.file} (mode 0600); each one-stop's secret is in it")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from contracts.agencies import REGISTRY
    from contracts.record_signing import TRUST_FILE, generate_keyring

    every = list(REGISTRY.hub.keys) + [k for a in REGISTRY.agencies.values() for k in a.keys]
    unknown = sorted(set(args.key) - set(every))
    if unknown:
        print(f"lienthong keys: {', '.join(unknown)} not in the agency registry ({', '.join(every)})", file=sys.stderr)
        return 2
    keyring = Path(args.keyring)
    generate_keyring(keyring, args.key or every)
    print(f"keyring {keyring}: private keys <key id>.pem (mode 0600), public keys in {keyring / TRUST_FILE}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from infra.harness import demo

    return demo.run(timeout_s=args.timeout, port=args.port, dashboard_port=args.dashboard_port, keep=args.keep)


def _bench(args: argparse.Namespace) -> int:
    from infra.harness import bench

    return bench.run(args.messages, args.dossiers, args.dashboard_dossiers)


def _chaos(args: argparse.Namespace) -> int:
    from infra.harness import chaos

    return chaos.run(small=args.small, dossiers=args.dossiers)


def _agency_list(args: argparse.Namespace) -> int:
    from contracts.agencies import REGISTRY
    from contracts.topics import Topics

    topics = Topics(namespace=args.namespace)
    for agency in REGISTRY.agencies.values():
        print(f"{agency.code}: {agency.name} — {agency.system}")
        if agency.bridged:
            print(
                f"  transport {agency.transport.value}: the hub's bridge calls it and writes its outbox "
                f"(signed with the hub's keys {', '.join(REGISTRY.hub.keys)})"
            )
        else:
            print(
                f"  transport {agency.transport.value}: connects as User:{agency.principal}, "
                f"signs with {', '.join(agency.keys)}, consumer groups {topics.agency_group(agency.code, '*')}"
            )
        print(f"  inbox {topics.inbox(agency.code)}, outbox {topics.outbox(agency.code)}")
        for label, values in (("serves", agency.serves), ("files", agency.file)):
            if values:
                print(f"  {label} {', '.join(sorted(values))}")
    return 0


def _conformance(args: argparse.Namespace) -> int:
    from contracts.agencies import AGENCIES
    from infra.conformance import Reach, Row, conform, load_cases

    agency = AGENCIES.get(args.agency)
    if agency is None:
        print(f"lienthong conformance: --agency: no agency {args.agency!r} in the registry", file=sys.stderr)
        return 2
    timeout = args.timeout
    if timeout is None:
        try:
            timeout = float(os.environ.get("LIENTHONG_STEP_TIMEOUT_S", "60"))
        except ValueError:
            print("lienthong conformance: LIENTHONG_STEP_TIMEOUT_S: not a number of seconds", file=sys.stderr)
            return 2
    if timeout <= 0 or args.quiet < 0:
        print("lienthong conformance: --timeout must be above 0 and --quiet at least 0", file=sys.stderr)
        return 2
    if args.procedures_dir:  # they may declare the actions of agencies the deployment added
        from contracts.catalog import load_catalog

        load_catalog(Path(args.procedures_dir))
    if args.cases:
        cases = load_cases(Path(args.cases))
    else:
        from infra.sandbox.conformance_cases import sandbox_cases

        print(
            f"cases: the sandbox's synthetic data (seed {args.seed}); give your system's with --cases", file=sys.stderr
        )
        cases = sandbox_cases(args.seed)
    if agency.bridged:
        reach = Reach(endpoint=args.endpoint)
    else:
        cluster = _cluster(args)
        keyring = Path(args.keyring) if args.keyring else None
        reach = Reach(cluster.kafka_client(), cluster.topics, keyring)

    def progress(row: Row) -> None:
        print(f"  {row.verdict:<5} {row.check}{f' ({row.action})' if row.action else ''}", file=sys.stderr)

    report = asyncio.run(conform(agency, cases, reach, timeout_s=timeout, quiet_s=args.quiet, listener=progress))
    print("\n".join(report.lines()))
    return 0 if report.passed else 1


def _agency_add(args: argparse.Namespace) -> int:
    from infra.onboarding import add_agency, handover_lines

    if not args.keyring:
        print("lienthong agency add: --keyring: the hub's keyring folder is required", file=sys.stderr)
        return 2
    cluster = _cluster(args)
    keyring = Path(args.keyring)
    handover = Path(args.handover or f"{args.code}-handover")
    done = asyncio.run(
        add_agency(
            args.code,
            admin_client=cluster.kafka_client(),
            topics=cluster.topics,
            hub_group=cluster.group_id,
            keyring=keyring,
            handover=handover,
        )
    )
    print("\n".join(handover_lines(args.code, cluster.topics, done, keyring)))
    return 0


def _calendar(args: argparse.Namespace) -> int:
    from datetime import date

    from contracts.working_days import load_calendar

    calendar = load_calendar(Path(args.file) if args.file else None)
    year = args.year or date.today().year
    print(f"{year}: weekdays off and weekend days worked (cut-off {calendar.cutoff:%H:%M})")
    for day, why in calendar.exceptions(year):
        print(f"  {day} {day:%a}  {why}")
    return 0


def _catalog(args: argparse.Namespace) -> int:
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


def _asyncapi(args: argparse.Namespace) -> int:
    from pathlib import Path

    from contracts.asyncapi import render

    text, path = render(), Path(args.output)
    if args.check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is not what `lienthong asyncapi` generates; run it and commit the file", file=sys.stderr)
            return 1
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from contracts.redact import mask_identifiers
    from infra.dlq import read_all, replay

    cluster = _cluster(args)
    client = cluster.kafka_client()
    letters = asyncio.run(read_all(client, cluster.topics, args.key.encode() if args.key is not None else None))
    chosen = [letter for letter in letters if args.stage is None or letter.headers.get("stage") == args.stage]
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
        count = asyncio.run(replay(client, chosen))
        print(f"replayed {count} record(s) to their source topics")
    elif not chosen:
        print("the dead-letter topic holds no matching records")
    return 0


def _status(args: argparse.Namespace) -> int:
    from contracts.errors import IdentifierError
    from contracts.events import Transition
    from contracts.identifiers import check_dossier_code
    from contracts.redact import mask_identifiers
    from infra.dlq import StoredLetter, read_all
    from infra.timeline import read_timeline, timeline_lines

    try:
        check_dossier_code(args.dossier)
    except IdentifierError as exc:
        print(f"lienthong status: dossier code: {exc}", file=sys.stderr)
        return 2
    cluster = _cluster(args)
    client, topics = cluster.kafka_client(), cluster.topics

    async def read() -> tuple[list[Transition], list[StoredLetter]]:
        return await read_timeline(client, topics, args.dossier), await read_all(client, topics, args.dossier.encode())

    timeline, letters = asyncio.run(read())
    if not timeline and not letters:
        print(f"no record of dossier {args.dossier} on {topics.monitor} or {topics.deadletter}", file=sys.stderr)
        return 1
    if timeline:
        status = next((t for t in reversed(timeline) if t.step is None), None)
        now = f"{int(status.status)} {status.state}" if status and status.status is not None else "no status yet"
        print(f"dossier {args.dossier} ({timeline[0].procedure}): {now}")
        print("\n".join(f"  {line}" for line in timeline_lines(timeline)))
    else:
        print(f"dossier {args.dossier}: never opened (no record on {topics.monitor})")
    if letters:
        print(f"  dead letters keyed by it ({len(letters)}; `lienthong dlq list --key {args.dossier}`):")
        for letter in letters:
            at, stage, code, reason = (letter.headers.get(k, "?") for k in ("at", "stage", "code", "reason"))
            print(f"  {at[:19].replace('T', ' ')}  {stage}  {code}: {mask_identifiers(reason)}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from infra.dashboard import serve

    cluster = _cluster(args)
    try:
        asyncio.run(serve(cluster.kafka_client(), cluster.topics, cluster.group_id, args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


def _connection(p: argparse.ArgumentParser, principal: str) -> None:
    """--client-properties (the principal's Kafka client file) and --bootstrap."""
    p.add_argument(
        "--client-properties",
        metavar="FILE",
        help=f"Kafka client properties of {principal} (default $LIENTHONG_KAFKA_CLIENT_PROPERTIES), "
        f"e.g. infra/kafka/run/clients/{principal}.properties",
    )
    p.add_argument("--bootstrap", help="broker list (default: bootstrap.servers of the client properties)")


def _audit_records(args: argparse.Namespace):
    """Every record on the audit topic, with progress on stderr during a long read."""
    import time

    from infra.audit import read_audit

    cluster = _cluster(args)
    shown = [time.monotonic()]

    def progress(read: int, total: int) -> None:
        if time.monotonic() - shown[0] > 2:
            shown[0] = time.monotonic()
            print(f"read {read}/{total} audit records", file=sys.stderr, flush=True)

    return asyncio.run(read_audit(cluster.kafka_client(), cluster.topics.audit, progress))


def _audit(args: argparse.Namespace) -> int:
    from contracts.errors import IdentifierError, SettingsError
    from contracts.identifiers import check_personal_id
    from infra.audit import citizen_exchanges, hub_verifier, verify

    if args.action == "verify":
        if not args.keyring:
            raise SettingsError("LIENTHONG_KEYRING (or --keyring): required to check the checkpoint signatures")
        from streams.settings import HubSettings, env_name

        every = os.environ.get(env_name("audit_checkpoint_every"))
        limit = args.checkpoint_every or int(every or HubSettings.model_fields["audit_checkpoint_every"].default)
        checks = verify(_audit_records(args), hub_verifier(Path(args.keyring)), limit).values()
        problems = [check.problem for check in checks if check.problem]
        print(
            "\n".join(str(p) for p in problems)
            if problems
            else f"audit intact: {len(checks)} partition(s), "
            f"{sum(c.entries for c in checks)} entries, {sum(c.checkpoints for c in checks)} signed checkpoint(s)"
        )
        return 1 if problems else 0
    key = os.environ.get("LIENTHONG_AUDIT_KEY")
    if not key:
        raise SettingsError("LIENTHONG_AUDIT_KEY: required to find a citizen's pseudonym")
    try:
        personal_id = check_personal_id(args.personal_id or "")
    except IdentifierError as exc:
        print(f"lienthong audit citizen: {exc}", file=sys.stderr)
        return 2
    retired = os.environ.get("LIENTHONG_AUDIT_RETIRED_KEYS", "").split()
    exchanges = citizen_exchanges(_audit_records(args), [k.encode() for k in (key, *retired)], personal_id)
    for e in exchanges:
        did = "received" if e.kind == "command" else f"sent the hub ({e.outcome})"
        purpose = f"  purpose: {e.purpose}" if e.purpose else ""
        print(f"{e.at:%Y-%m-%d %H:%M:%S}  dossier {e.dossier_id}  {e.agency} {did}: {', '.join(e.fields)}{purpose}")
    under = f"the audit key and {len(retired)} retired one(s)" if retired else "the audit key"
    print(f"{len(exchanges)} exchange(s) of this person's data on record (pseudonyms under {under})")
    return 0


def _keyring_argument(p: argparse.ArgumentParser, holding: str) -> None:
    p.add_argument(
        "--keyring",
        default=os.environ.get("LIENTHONG_KEYRING"),
        help=f"keyring folder with {holding} (default $LIENTHONG_KEYRING)",
    )


def parser() -> argparse.ArgumentParser:
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

    p = sub.add_parser(
        "topics",
        help="create every topic the hub uses and the ACLs on them (idempotent)",
        description="Create the topics of the namespace, then grant the ACLs derived from the agency "
        "registry (docs/operations.md). Runs as the broker's super user (admin).",
    )
    _connection(p, "admin")
    p.set_defaults(func=_topics)

    p = sub.add_parser("sandbox", help="run the simulated agencies in the foreground")
    p.add_argument(
        "--clients-dir",
        required=True,
        help="folder of <principal>.properties files (e.g. infra/kafka/run/clients): justice, tax and "
        "portal each connect as their own principal",
    )
    p.add_argument("--bootstrap", help="broker list (default: bootstrap.servers of the client properties)")
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
    _connection(p, "onestop")
    p.add_argument("--port", type=int, default=8091, help="HTTP port on 127.0.0.1 (default %(default)s)")
    p.add_argument(
        "--callers",
        default=os.environ.get("LIENTHONG_ONESTOP_CALLERS"),
        help="callers file (username, secret, dossier-code prefix; `lienthong onestop-callers` writes one); "
        "default $LIENTHONG_ONESTOP_CALLERS, required",
    )
    _keyring_argument(p, "the onestop signing key and the trust store")
    p.add_argument(
        "--auth-window",
        type=float,
        default=float(os.environ.get("LIENTHONG_ONESTOP_AUTH_WINDOW_S", "300")),
        help="seconds a UsernameToken's Created may be from the gateway's clock "
        "(default $LIENTHONG_ONESTOP_AUTH_WINDOW_S or 300)",
    )
    p.set_defaults(func=_onestop)

    p = sub.add_parser(
        "onestop-callers",
        help="write a callers file for the SOAP filing gateway, with fresh random secrets",
        description="Each caller (a legacy one-stop system) gets a username, a random secret and the "
        "dossier-code prefix (its agency e-ID) it files under. Hand each one-stop its username and secret "
        "from the file; point the gateway at it with LIENTHONG_ONESTOP_CALLERS.",
    )
    p.add_argument("file", help="callers file to write (mode 0600; an existing file is not overwritten)")
    p.add_argument("callers", nargs="+", metavar="USERNAME=PREFIX", help="e.g. vithanh=000.00.31.H26")
    p.set_defaults(func=_onestop_callers)

    p = sub.add_parser(
        "demo",
        help="file sample dossiers end to end and show their progress",
        description="Start (or reuse) a local broker on --port, the sandbox agencies, "
        "a hub worker and the operator dashboard; file sample dossiers of every procedure; print progress, "
        "timelines, a summary and where to look (dashboard, metrics, `lienthong status`); stop what was "
        "started (with --keep, once interrupted). Exits 0 when "
        "every dossier reached its expected final state. Set "
        "KAFKA_CLIENTS_DIR (a folder of <principal>.properties client files) to use an existing cluster instead.",
    )
    p.add_argument("--timeout", type=float, default=90, help="seconds to wait for outcomes (default %(default)s)")
    p.add_argument("--port", type=int, default=9092, help="local broker port (default %(default)s)")
    p.add_argument(
        "--dashboard-port", type=int, default=0, help="operator dashboard port on 127.0.0.1 (default: a free one)"
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="after the summary, keep the broker, agencies, gateway, hub worker and dashboard up until SIGINT/SIGTERM",
    )
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "bench",
        help="measure throughput on a local broker (see docs/benchmarks.md)",
        description="Bare aiokafka relay throughput, then birth dossiers end to end "
        "through one hub worker and the sandbox agencies (SASL_SSL, every record signed), then what "
        "signing, verification and TLS cost per record and per dossier, then the operator dashboard "
        "on a hundred thousand dossiers' monitoring records.",
    )
    p.add_argument("--messages", type=int, default=20000, help="records for the relay (default %(default)s)")
    p.add_argument("--dossiers", type=int, default=200, help="dossiers end to end (default %(default)s)")
    p.add_argument(
        "--dashboard-dossiers",
        type=int,
        default=100_000,
        help="dossiers' worth of monitoring records for the dashboard's figures; 0 skips them (default %(default)s)",
    )
    p.set_defaults(func=_bench)

    p = sub.add_parser(
        "chaos",
        help="prove nothing is lost or doubled under faults, on a local three-broker cluster",
        description="Start a three-broker cluster and two hub workers; file dossiers of all five "
        "procedures while workers are SIGKILLed (5 times), a broker is kill -9ed and restarted, the "
        "population REST agency is down for two minutes and the insurance SOAP agency for one, and "
        "10,000 malformed or forged messages are injected. Ends with `chaos: N filed, N final, N "
        "lost, N doubled, N dead letters, N worker restarts`; exit 1 on any loss or double.",
    )
    p.add_argument("--small", action="store_true", help="one of each fault and a few dozen dossiers (as in make test)")
    p.add_argument("--dossiers", type=int, help="dossiers to file (default 2000; 30 with --small)")
    p.set_defaults(func=_chaos)

    p = sub.add_parser(
        "agency",
        help="the agencies in the registry (contracts/agencies.toml) and how each connects",
        description="For each agency in the registry: its transport, the principal it connects as and the "
        "keys it signs with (or, for a REST or SOAP agency, the hub's bridge that plays its part), its "
        "topics, the actions it serves and the procedures it may file.",
    )
    agency = p.add_subparsers(dest="agency_command", required=True, metavar="agency-command")
    q = agency.add_parser("list", help="every agency, its transport, topics and key ids")
    q.add_argument(
        "--namespace",
        default=os.environ.get("LIENTHONG_TOPIC_NAMESPACE", ""),
        help="topic namespace (default $LIENTHONG_TOPIC_NAMESPACE, else none)",
    )
    q.set_defaults(func=_agency_list)
    q = agency.add_parser(
        "add",
        help="onboard a Kafka-native agency of the registry onto a running cluster",
        description="For an agency already in the registry file (LIENTHONG_REGISTRY_FILE): give its principal a "
        "SCRAM credential on the cluster, create its topics and grant the registry's ACLs, generate its signing "
        "keys and trust them in the hub's keyring, and write the folder to hand to its team (client properties, "
        "CA, private keys, the hub's public keys). Needs the cluster's admin client properties. Run again with "
        "the same --handover folder, it keeps the password and keys it finds there.",
        epilog="docs/agencies.md: onboarding an agency.",
    )
    q.add_argument("code", help="the agency's code in the registry, e.g. social")
    q.add_argument("--handover", metavar="DIR", help="the hand-over folder to write (default ./<code>-handover)")
    _connection(q, "admin")
    _keyring_argument(q, "the hub's keys and trust store")
    q.set_defaults(func=_agency_add)

    p = sub.add_parser(
        "conformance",
        help="check an agency's own system against the hub's contract (a pass/fail table)",
        description="Drive a running agency system through the cases its actions require: a Kafka-native "
        "agency through the broker (commands signed with the hub's key on its inbox, replies read from its "
        "outbox: run it against a namespace with no hub worker), a REST or SOAP agency at its endpoint through "
        "the hub's own bridge. Checks that it answers every action it serves with a schema-valid (and "
        "correctly signed) reply within the reply timeout, answers a repeated idempotency key with the first "
        "result, refuses on the facts with a reason, and ignores commands not addressed to it or not signed "
        "by the hub. Exits 1 when a check fails.",
        epilog="docs/agencies.md shows the cases file and a run.",
    )
    p.add_argument("--agency", required=True, help="the agency's code in the registry, e.g. tax")
    p.add_argument(
        "--cases",
        metavar="FILE",
        help="TOML cases with your test system's data (default: the sandbox's synthetic citizens)",
    )
    p.add_argument("--seed", type=int, default=2026, help="without --cases: the sandbox's seed (default %(default)s)")
    p.add_argument("--endpoint", help="a REST or SOAP agency: its base URL or SOAP address")
    p.add_argument(
        "--procedures-dir",
        default=os.environ.get("LIENTHONG_PROCEDURES_DIR"),
        metavar="DIR",
        help="the hub's extra procedure files, which declare the actions of added agencies "
        "(default $LIENTHONG_PROCEDURES_DIR)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        help="the reply timeout, seconds (default $LIENTHONG_STEP_TIMEOUT_S, else 60)",
    )
    p.add_argument(
        "--quiet",
        type=float,
        default=5,
        help="seconds to wait for no answer to a command it must ignore (default %(default)s)",
    )
    _connection(p, "hub")
    _keyring_argument(p, "the hub's signing key and the agency's public key")
    p.set_defaults(func=_conformance)

    p = sub.add_parser(
        "calendar",
        help="the working calendar deadlines are counted on: a year's days off and weekend days worked",
        description="Working days come from the holidays package (Vietnam: Tết by the lunar calendar, observed "
        "days, the government's swaps), corrected by the calendar file (the cut-off, and what the government "
        "announced after the package's release).",
    )
    p.add_argument("year", nargs="?", type=int, help="the year (default: this year)")
    p.add_argument(
        "--file",
        default=os.environ.get("LIENTHONG_CALENDAR_FILE"),
        help="the calendar file (default $LIENTHONG_CALENDAR_FILE, else the shipped contracts/calendar.toml)",
    )
    p.set_defaults(func=_calendar)

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
    _connection(p, "operator")
    p.set_defaults(func=_dlq)

    p = sub.add_parser(
        "status",
        help="print one dossier's timeline from the monitoring stream, and its dead letters",
        description="Read hub.monitor.transitions (only the dossier's partition) and print the dossier's "
        "status changes and step outcomes, with times and durations, identifiers masked; then the records "
        "keyed by its code on the dead-letter topic, with why (a filing refused before it opened a dossier "
        "shows only there). Exit 1 if neither holds anything about it, 2 if the code is not a dossier code.",
    )
    p.add_argument("dossier", help="the dossier code (mã hồ sơ), e.g. 000.00.31.H26-261126-0007")
    _connection(p, "operator")
    p.set_defaults(func=_status)

    p = sub.add_parser(
        "dashboard",
        help="serve a live operator page fed by the monitoring streams",
        description="Follow hub.monitor.transitions, hub.monitor.agencies, hub.monitor.alerts and "
        "hub.deadletter (as the operator) and serve a page that updates live: dossiers in flight by "
        "procedure and status, the overdue list, each agency's health, alerts with what to do, dead "
        "letters by reason with the replay command, and a search box for one dossier's timeline.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8088, help="port (default %(default)s)")
    _connection(p, "operator")
    p.set_defaults(func=_dashboard)

    p = sub.add_parser(
        "keys",
        help="generate Ed25519 signing keys and the trust store (existing keys are kept)",
        description="Create <key id>.pem for each key id of the agency registry not yet in KEYRING "
        "(or only those given with --key) and rewrite KEYRING/trust.toml with every public key there. "
        "Hand each agency its own .pem; the hub's workers and every receiver read trust.toml.",
    )
    p.add_argument("keyring", help="folder of the keys (LIENTHONG_KEYRING for the worker)")
    p.add_argument("--key", action="append", default=[], help="only this key id (repeatable), e.g. justice-1")
    p.set_defaults(func=_keys)

    p = sub.add_parser(
        "audit",
        help="verify the audit log, or list what was exchanged about one citizen",
        description="verify: re-read every partition of the audit topic, check each hash-chain link "
        "and checkpoint signature, name the first broken link per partition (exit 1). "
        "citizen <personal ID>: which agencies received which fields of that person's data, when, "
        "for which dossier and why (needs LIENTHONG_AUDIT_KEY; after the key was changed, give the keys it "
        "replaced in LIENTHONG_AUDIT_RETIRED_KEYS, separated by spaces, to find the records written under them).",
    )
    p.add_argument("action", choices=["verify", "citizen"])
    p.add_argument("personal_id", nargs="?", help="for citizen: the 12-digit personal ID number")
    _keyring_argument(p, "the trust store (trust.toml) of the hub's keys")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        help="the largest LIENTHONG_AUDIT_CHECKPOINT_EVERY the hub ever ran with (default: the current one): "
        "a longer run of entries without a signed checkpoint is a problem",
    )
    _connection(p, "operator")
    p.set_defaults(func=_audit)

    p = sub.add_parser("schema", help="print the JSON Schema of a contract (for agency developers)")
    p.add_argument("name", nargs="?", help="e.g. envelope, justice-birth-filing, step-reply")
    p.add_argument("--list", action="store_true", help="list the schema names")
    p.set_defaults(func=_schema)

    p = sub.add_parser(
        "asyncapi",
        help="write the AsyncAPI 3 document of the hub's Kafka interface (docs/asyncapi.yaml)",
        description="Generate the AsyncAPI 3.0.0 document from the agency registry, the topics and the "
        "pydantic contracts: each agency's channels, operations, message schemas and security scheme.",
    )
    p.add_argument("-o", "--output", default="docs/asyncapi.yaml", help="file to write, - for stdout (%(default)s)")
    p.add_argument("--check", action="store_true", help="only check the file is up to date (exit 1 if not)")
    p.set_defaults(func=_asyncapi)
    return top


def main(argv: list[str] | None = None) -> int:
    from aiokafka.errors import KafkaError

    from contracts.errors import CatalogError, SettingsError
    from infra.topics import TopicMissing

    args = parser().parse_args(argv)
    if args.command != "worker":
        from streams import logs

        logs.configure(os.environ.get("LIENTHONG_LOG_LEVEL", "warning"))
    try:
        return args.func(args)
    except (SettingsError, CatalogError) as exc:
        print(f"lienthong {args.command}: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:  # refused (authentication, ACLs) or unreachable
        print(f"lienthong {args.command}: Kafka: {exc}", file=sys.stderr)
        return 1
    except TopicMissing as exc:
        print(f"lienthong {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
