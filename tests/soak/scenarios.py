"""The soak scenarios of issue 11, each run against the live local stack.

Every scenario uses fresh people (fresh PSIDs, linked to the sandbox bank where the
message needs a bank), sends its traffic, waits until every message has a final
answer or its window closes, waits `settle` seconds more to catch late duplicates,
and returns its `Figures`. Faults are switched off again whatever happens.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tests.e2e.chat import quick_replies, text_of
from tests.factories import text_event
from tests.soak.driver import Bank, Chat, Graph, LocalStack, Queues, wait_until
from tests.soak.tally import (
    ANSWER_GOAL_SECONDS,
    Figures,
    Kind,
    Reply,
    Sent,
    percentile,
    shows_balances,
    tally,
)

FRAUD_CUSTOMERS = ("alice", "bob", "carol")
VISIBILITY_FOR_CRASHES = 60
TRANSIENT_GRAPH_FAULTS = (
    {"status": 500, "code": 2},
    {"status": 400, "code": 613},
    {"status": 500, "code": 1},
    {"status": 503, "code": 2, "error_subcode": 2018344},
)
PERMANENT_GRAPH_FAULTS = (
    {"status": 403, "code": 10},
    {"status": 403, "code": 200},
    {"status": 400, "code": 551, "error_subcode": 1545041},
    {"status": 400, "code": 100, "error_subcode": 2018001},
)


@dataclass(frozen=True)
class Size:
    """How big a scenario is and how long it may take."""

    people: int
    messages: int = 0  # total messages (load) or events (fraud, API kill deliveries)
    window: float = 120.0  # seconds after the last send before the unanswered count as lost
    settle: float = 10.0  # seconds to wait for late duplicates once everything is answered
    answer_goal: float | None = ANSWER_GOAL_SECONDS  # None: no time goal (see worker_killed)


@dataclass
class Run:
    """What a scenario needs: the stack and its clients, built fresh per scenario."""

    stack: LocalStack
    size: Size
    chat: Chat = field(init=False)
    bank: Bank = field(init=False)
    graph: Graph = field(init=False)
    queues: Queues = field(init=False)
    notes: dict[str, int | float | str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.chat = Chat(self.stack)
        self.bank = Bank(self.stack)
        self.graph = Graph(self.stack)
        self.queues = Queues(self.stack)


def new_people(count: int) -> list[str]:
    return [f"soak-{uuid.uuid4().hex[:12]}" for _ in range(count)]


def link_people(run: Run, count: int, customers: Iterable[str] = ("alice",)) -> list[str]:
    """`count` fresh people, each linked to the sandbox bank (customers in turn).

    Someone whose linking fails is left out (and counted in the notes): the
    scenario measures what comes after linking.
    """
    people = new_people(count)
    chosen = _cycle(customers, count)

    def link(psid: str, customer: str) -> str | None:
        try:
            run.chat.link(psid, customer)
        except (TimeoutError, StopIteration, OSError) as error:
            print(f"soak: linking failed: {type(error).__name__}: {error}", flush=True)
            return None
        return psid

    with ThreadPoolExecutor(8) as pool:
        linked = [psid for psid in pool.map(link, people, chosen) if psid is not None]
    if len(linked) < count:
        run.notes["people whose linking failed (left out)"] = count - len(linked)
    if not linked:
        raise RuntimeError("nobody could be linked to the sandbox bank")
    return linked


def _cycle(items: Iterable[str], count: int) -> list[str]:
    pool = list(items)
    return [pool[index % len(pool)] for index in range(count)]


def send_all(
    run: Run, messages: list[tuple[str, str, Kind]], concurrency: int, give_up_at: float
) -> list[Sent]:
    """Send (psid, text, expected kind) messages, `concurrency` deliveries at a time."""

    def one(message: tuple[str, str, Kind]) -> Sent:
        psid, text, expects = message
        at = time.time()
        run.chat.say(psid, text, give_up_at)
        return Sent(psid=psid, expects=expects, at=at)

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, messages))


def await_answers(run: Run, sent: list[Sent], until: float) -> list[Reply]:
    """Poll the Graph stand-in until every message is answered or `until`; then settle."""
    people = {message.psid for message in sent}
    replies = run.chat.replies(people)  # the last reading, if the stack has already stopped
    while run.stack.alive():
        replies = run.chat.replies(people)
        if tally(sent, replies).lost == 0 or time.time() > until:
            break
        time.sleep(1.0)
    if not run.stack.alive():
        run.notes["stack stopped"] = "yes: a component died and the stack stopped with it"
        return replies
    time.sleep(run.size.settle)
    return run.chat.replies(people) if run.stack.alive() else replies


def finish(run: Run, sent: list[Sent], replies: list[Reply], dlq_before: int) -> Figures:
    """Tally, then add 5xx answers, dead letters and the scenario's notes."""
    figures = tally(sent, replies, goal=run.size.answer_goal)
    figures.server_errors = sum(outcome.server_errors for outcome in run.chat.outcomes)
    dropped = sum(1 for outcome in run.chat.outcomes if not outcome.accepted)
    connection_errors = sum(outcome.connection_errors for outcome in run.chat.outcomes)
    if connection_errors:
        run.notes["connection errors (delivery sent again)"] = connection_errors
    if dropped:
        run.notes["deliveries never accepted"] = dropped
    interim = sum(1 for reply in replies if reply.kind is Kind.INTERIM)
    if interim:
        run.notes["interim replies"] = interim
    balances = [reply for reply in replies if reply.kind is Kind.BALANCE]
    if balances:
        shown = sum(1 for reply in balances if shows_balances(reply.text))
        run.notes["balance answers: balances shown / try later"] = (
            f"{shown} / {len(balances) - shown}"
        )
    if run.stack.alive():
        figures.dlq = run.queues.dead_letters() - dlq_before
        left = run.queues.drain()  # so they do not load the next scenario
        if left:
            run.notes["records still queued at the end (then drained)"] = left
    figures.notes = run.notes
    return figures


def _balance_under(controls: dict[str, Any]) -> Callable[[Run], Figures]:
    """Linked people ask for their balance once while the bank misbehaves as configured."""

    def scenario(run: Run) -> Figures:
        people = link_people(run, run.size.people)
        dlq_before = run.queues.dead_letters()
        run.bank.configure(**controls)
        try:
            give_up_at = time.time() + run.size.window
            sent = send_all(run, [(p, "balance", Kind.BALANCE) for p in people], 16, give_up_at)
            replies = await_answers(run, sent, time.time() + run.size.window)
        finally:
            if run.stack.alive():
                run.bank.configure()
        return finish(run, sent, replies, dlq_before)

    return scenario


def load(run: Run) -> Figures:
    """200 "hi" / "help" / "balance" messages from 50 linked people, 16 deliveries at a time."""
    people = link_people(run, run.size.people)
    kinds = (("hi", Kind.WELCOME), ("balance", Kind.BALANCE), ("help", Kind.WELCOME))
    each = run.size.messages // run.size.people
    messages = [(psid, *kinds[k % len(kinds)]) for psid in people for k in range(each)]
    random.Random(11).shuffle(messages)
    dlq_before = run.queues.dead_letters()
    give_up_at = time.time() + run.size.window
    started = time.time()
    sent = send_all(run, messages, 16, give_up_at)
    run.notes["seconds to send every message"] = round(time.time() - started, 1)
    replies = await_answers(run, sent, time.time() + run.size.window)
    return finish(run, sent, replies, dlq_before)


def graph_transient(run: Run) -> Figures:
    """Each person's reply first meets two transient Graph errors (5xx, 613, code 1/2)."""
    people = new_people(run.size.people)
    faults = [
        {**TRANSIENT_GRAPH_FAULTS[(i + k) % 4], "recipient": p, "messages_only": True}
        for i, p in enumerate(people)
        for k in range(2)
    ]
    run.graph.queue_faults(faults)
    dlq_before = run.queues.dead_letters()
    try:
        give_up_at = time.time() + run.size.window
        sent = send_all(run, [(p, "hi", Kind.WELCOME) for p in people], 16, give_up_at)
        replies = await_answers(run, sent, time.time() + run.size.window)
        run.notes["injected faults never used"] = run.graph.pending_faults()
    finally:
        if run.stack.alive():
            run.graph.clear_faults()
    return finish(run, sent, replies, dlq_before)


def graph_permanent(run: Run) -> Figures:
    """A reply meets a permanent Graph error (10, 200, 551, 100/2018001): it must not be
    retried; the person's next message is answered exactly once. Counted: the next
    message; a retried permanent failure shows up as a duplicate."""
    people = new_people(run.size.people)
    faults = [
        {**PERMANENT_GRAPH_FAULTS[i % 4], "recipient": p, "messages_only": True}
        for i, p in enumerate(people)
    ]
    run.graph.queue_faults(faults)
    dlq_before = run.queues.dead_letters()
    give_up_at = time.time() + run.size.window
    send_all(run, [(p, "hi", Kind.WELCOME) for p in people], 16, give_up_at)
    waited_until = time.time() + 30
    while run.graph.pending_faults() and time.time() < waited_until:
        time.sleep(0.5)
    run.notes["permanent faults never reached"] = run.graph.pending_faults()
    run.graph.clear_faults()
    time.sleep(5)  # a wrongly retried send would land now, before the next message
    retried: dict[str, int] = {}
    for reply in run.chat.replies(set(people)):
        code = faults[people.index(reply.psid)]["code"]
        retried[str(code)] = retried.get(str(code), 0) + 1
    if retried:
        run.notes["sent again after a permanent error (counted as duplicated), by code"] = (
            ", ".join(f"{code}: {count}" for code, count in sorted(retried.items()))
        )
    sent = send_all(run, [(p, "help", Kind.WELCOME) for p in people], 16, give_up_at)
    replies = await_answers(run, sent, time.time() + run.size.window)
    return finish(run, sent, replies, dlq_before)


def worker_killed(run: Run) -> Figures:
    """The workers are SIGKILLed while balance requests are in flight (bank takes 3 s).

    For this scenario the queues' visibility timeout is cut from the template's 360 s
    to 60 s (the workers' timeout, the least an event source mapping accepts), so the
    records the dead workers held come back within the run; AWS would take 360 s.
    A crashed invocation's records wait out that timeout in AWS too, so the goal here
    is nothing lost or answered twice, without the 60 s answer time. The stack is
    started with that timeout (`Scenario.queue_visibility`): changing it on a running
    queue does not reach records already received under the old one.
    """
    people = link_people(run, run.size.people)
    dlq_before = run.queues.dead_letters()
    run.bank.configure(latency_ms=3000)
    try:
        give_up_at = time.time() + run.size.window
        killer = threading.Timer(2.0, _kill_workers, args=(run,))
        with run.chat.watching():
            killer.start()
            sent = send_all(run, [(p, "balance", Kind.BALANCE) for p in people], 16, give_up_at)
            killer.join()
            replies = await_answers(run, sent, time.time() + run.size.window)
    finally:
        if run.stack.alive():
            run.bank.configure()
    return finish(run, sent, replies, dlq_before)


def _kill_workers(run: Run) -> None:
    old_pump = run.stack.component_pid("pump")
    killed_at = time.monotonic()
    run.notes["killed"] = run.stack.kill_workers()
    if run.notes["killed"] == "the queue pump" and old_pump is not None:
        back = run.stack.wait_for_component("pump", old_pump, timeout=30)
        run.notes["pump restarted after (s)"] = (
            "not restarted" if back is None else round(time.monotonic() - killed_at, 1)
        )


def api_killed(run: Run) -> Figures:
    """`chalice local` is SIGKILLed once a quarter of the signed deliveries (10 events
    each, 4 at a time) are accepted; each failed delivery is sent again, as Meta does."""
    people = new_people(run.size.people)
    texts = ("hi", "help")
    batches = [
        [(people[(d * 10 + e) % len(people)], texts[e % 2]) for e in range(10)]
        for d in range(run.size.messages)
    ]
    dlq_before = run.queues.dead_letters()
    give_up_at = time.time() + run.size.window
    sent: list[Sent] = []
    accepted = 0
    lock = threading.Lock()
    killer = threading.Thread(target=_kill_and_watch, args=(run, "api"))

    def deliver(batch: list[tuple[str, str]]) -> None:
        nonlocal accepted
        at = time.time()
        with lock:
            sent.extend(Sent(psid=p, expects=Kind.WELCOME, at=at) for p, _ in batch)
        outcome = run.chat.deliver([text_event(p, text) for p, text in batch], give_up_at)
        with lock:
            accepted += outcome.accepted
            if accepted == max(1, len(batches) // 4):
                killer.start()

    with run.chat.watching():
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(deliver, batches))
        if killer.ident is None:
            run.notes["api killed"] = "no: too few deliveries were accepted"
        else:
            killer.join()
        replies = await_answers(run, sent, time.time() + run.size.window)
    return finish(run, sent, replies, dlq_before)


def _kill_and_watch(run: Run, component: str) -> None:
    """SIGKILL a component; note whether the stack brought it back and how fast."""
    killed_at = time.monotonic()
    old = run.stack.kill_component(component)
    back = run.stack.wait_for_component(component, old, timeout=30)
    run.notes[f"{component} restarted after (s)"] = (
        "not restarted" if back is None else round(time.monotonic() - killed_at, 1)
    )


def fraud(run: Run) -> Figures:
    """Fraud alerts from the bank, each answered by a tap; every third tapped twice at once."""
    person_of = {customer: link_people(run, 1, (customer,))[0] for customer in FRAUD_CUSTOMERS}
    for psid in person_of.values():  # inside Meta's 24 h window, so an alert is a plain UPDATE
        run.chat.say(psid, "hi", time.time() + 30)
    dlq_before = run.queues.dead_letters()
    events = [
        (FRAUD_CUSTOMERS[i % 3], f"{101 + i}.{i % 100:02d}") for i in range(run.size.messages)
    ]
    fired: dict[str, float] = {}
    server_errors = 0

    def fire(event: tuple[str, str]) -> None:
        nonlocal server_errors
        customer, amount = event
        fired[amount] = time.time()
        answer = run.bank.fire_fraud(customer, amount)
        status = answer.get("bankbridge_status", answer["http_status"])
        if status >= 500:
            server_errors += 1

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fire, events))
    ends_at = time.time() + run.size.window
    taps: list[Sent] = []
    alert_latencies: list[float] = []
    missing_alerts = 0
    lock = threading.Lock()

    def answer_alerts(customer: str) -> None:
        nonlocal missing_alerts
        psid = person_of[customer]
        mine = [amount for who, amount in events if who == customer]
        tapped = 0
        for number, amount in enumerate(mine):
            try:
                alert = run.chat.await_reply(
                    psid, lambda r, a=amount: f"${a} " in text_of(r), ends_at - time.time()
                )
            except TimeoutError:
                with lock:
                    missing_alerts += 1
                continue
            with lock:
                alert_latencies.append(_received_at(alert) - fired[amount])
            title, payload = list(quick_replies(alert).items())[number % 2]
            at = time.time()
            with lock:
                taps.append(Sent(psid=psid, expects=Kind.FRAUD_ANSWER, at=at))
            tappers = [
                threading.Thread(target=run.chat.tap, args=(psid, title, payload, at + 30))
                for _ in range(2 if number % 3 == 0 else 1)
            ]
            for tapper in tappers:
                tapper.start()
            for tapper in tappers:
                tapper.join()
            tapped += 1
            wait_until(partial(_has_answers, run, psid, tapped), ends_at - time.time())

    with ThreadPoolExecutor(len(FRAUD_CUSTOMERS)) as pool:
        list(pool.map(answer_alerts, FRAUD_CUSTOMERS))
    replies = await_answers(run, taps, ends_at)
    alerts = [reply for reply in replies if reply.kind is Kind.FRAUD_ALERT]
    figures = finish(run, taps, replies, dlq_before)
    figures.tried = len(events)
    figures.lost += missing_alerts
    figures.duplicated += len(alerts) - len({(r.psid, r.text) for r in alerts})
    figures.server_errors += server_errors
    if run.stack.alive():
        figures.notes["answers forwarded to the bank / answers it recorded"] = (
            f"{run.bank.fraud_forwards()} / {run.bank.fraud_answers()}"
        )
    figures.notes["alerts delivered"] = len(alerts)
    figures.notes["taps (a third of them doubled)"] = len(taps)
    figures.notes["repeat taps told 'already answered'"] = sum(
        1 for reply in replies if reply.kind is Kind.FRAUD_REPEAT
    )
    for rank in (50, 95):
        value = percentile(alert_latencies, rank)
        if value is not None:
            figures.notes[f"alert latency p{rank} (s)"] = round(value, 1)
    return figures


def _has_answers(run: Run, psid: str, count: int) -> bool:
    replies = run.chat.replies({psid})
    return sum(1 for reply in replies if reply.kind is Kind.FRAUD_ANSWER) >= count


def _received_at(item: dict[str, Any]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(item["received_at"]).timestamp()


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    run: Callable[[Run], Figures]
    full: Size
    quick: Size
    queue_visibility: int | None = None  # the stack's queue visibility timeout; None: template


FULL = Size(40, window=90)
QUICK = Size(10, window=60, settle=5)

SCENARIOS = (
    Scenario("load", "200 messages from 50 people, concurrency 16", load,
             Size(50, 200, window=90), Size(10, 40, window=60, settle=5)),
    Scenario("bank-errors", "bank error rate 50 %", _balance_under({"error_rate": 0.5}),
             FULL, QUICK),
    Scenario("bank-8s", "bank latency 8 s", _balance_under({"latency_ms": 8000}), FULL, QUICK),
    Scenario("bank-11s", "bank latency 11 s", _balance_under({"latency_ms": 11000}), FULL, QUICK),
    Scenario("bank-429", "bank answers 429 half the time", _balance_under({"rate_limit_rate": 0.5}),
             FULL, QUICK),
    Scenario("graph-transient", "Graph 5xx / 613 twice per reply", graph_transient, FULL, QUICK),
    Scenario("graph-permanent", "Graph permanent errors (10, 200, 551, 100)", graph_permanent,
             FULL, QUICK),
    Scenario("fraud", "50 fraud alerts answered by taps, a third tapped twice", fraud,
             Size(3, 50, window=90), Size(3, 12, window=60, settle=5)),
    Scenario("worker-killed", "workers SIGKILLed mid-delivery (bank 3 s)", worker_killed,
             Size(30, window=150, answer_goal=None),
             Size(10, window=120, settle=5, answer_goal=None), VISIBILITY_FOR_CRASHES),
    Scenario("api-killed", "API SIGKILLed during 40 deliveries of 10 events", api_killed,
             Size(100, 40, window=90), Size(30, 12, window=60, settle=5)),
)  # fmt: skip
