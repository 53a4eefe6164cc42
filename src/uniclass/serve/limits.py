"""Request and batching limits of the HTTP service (stdlib only: the CLI reads the defaults for ``--help``)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how requests are merged into model calls.

    The per-request limits keep one client from occupying the model (or the memory) for everyone else; a
    request over a limit gets a 4xx error naming the limit instead of being cut silently.
    """

    max_texts: int = 128  # texts per request
    max_labels: int = 128  # labels per text
    max_chars: int = 10_000  # characters per text (the model reads at most its token window anyway)
    max_body_bytes: int = 1_000_000  # request body size
    max_batch_texts: int = 64  # texts merged into one model call
    # Work of one model call, in encoder tokens: a larger request is answered in slices over several calls, so
    # no single call keeps everyone waiting (1,024 tokens: about 0.5 s of the bundled model on 2 busy cores).
    max_batch_tokens: int = 1_024
    # Fair sharing (serve.scheduler): while clients compete, each (a remote address) gets one turn per round of
    # this many tokens: a request of one text always goes whole, a larger one is sliced over rounds. About one
    # short text, so a client with a deep backlog gets about what each client sending one text at a time gets.
    client_quantum_tokens: int = 64
    # Label embedding (a label-set upload, the new labels of a shortlist) gets this share of its client's turns:
    # its tokens are charged 1/upload_weight times against the client's credit. Each upload slice is a model call
    # of its own beside the round's merged classification call, so at a full share six concurrent uploads from one
    # address cut normal clients to 0.735 of their throughput (benchmarks/abuse.py on an idle machine); at a
    # quarter the scheduler's simulation (tests/serve/test_scheduler.py) gives 0.89, and an upload
    # alone still fills whole calls. The price: beside busy clients an upload takes about three times as long.
    upload_weight: float = 0.25
    client_presence_s: float = 1.0  # a client seen this recently counts as around (it may send again any moment)
    # A client whose requests are refused (4xx) is paced: each refusal is charged its handling time (at least
    # 5 ms) divided by this share, and the client's next request waits until that is paid off, so refused
    # requests cost the server at most this share of a core per client (0.01: 1 %, a refusal then costs its
    # client at least 0.5 s). Clients whose requests are accepted never wait. 0.01 rather than 0.02: in the
    # load test with abusive clients (`python -m uniclass.bench.load_test --abuse-clients 1`) on an idle machine,
    # normal clients kept 83-84% of their throughput against 66-78% at 0.02.
    refusal_share: float = 0.01
    max_wait_ms: float = 10.0  # how long the first request of a batch waits for company
    max_queue_texts: int = 4096  # texts accepted but not yet answered; beyond it new requests get 503
    max_prompt_chars: int = 2_000  # characters of the prompt
    max_label_chars: int = 200  # characters per label
    max_examples: int = 16  # few-shot examples per request
    max_example_chars: int = 2_000  # characters per example (its text and labels)
    max_threshold_labels: int = 1_024  # keys of a per-label threshold dict
    max_label_set_labels: int = 20_000  # labels of a registered label set (scored through a shortlist of k)
    max_label_sets: int = 16  # registered label sets (each keeps its label vectors in memory)
    # Work of one label-set upload (PUT /v1/label-sets), in encoder tokens: every prompt of every label the
    # retriever embeds. 32,768 is about 600 labels under the default model's six prompts per label, about 30 s
    # of its sentence embedder on 2 busy cores; larger sets are registered at startup (--label-set NAME=FILE).
    max_label_set_tokens: int = 32_768
    # The work budget, in encoder tokens: every window the model will read (texts x label groups x window),
    # measured by planning the request before it is queued. 16,384 tokens is 32 full 512-token windows, about
    # 8 s of the bundled model on 2 busy CPU cores (README, serve section).
    max_work_tokens: int = 16_384  # per request
    max_queue_tokens: int = 65_536  # accepted but not yet answered (the queue bound counts work, not only texts)
    # Once the queue has been idle this long after work, freed memory is returned to the operating system (glibc
    # malloc_trim; nothing happens without glibc), so the server's memory comes back down after a burst.
    idle_trim_s: float = 1.0
    body_timeout_s: float = 30.0  # the whole body must arrive by then (slow uploads get 408 and free their memory)
    request_timeout_s: float = 60.0  # a request not answered by then (from its arrival) gets a JSON 504
    planning_threads: int = 2  # threads that tokenize and count requests' work (their own, not asyncio's pool)
    max_planning: int = 64  # requests being planned at once; more get 503
    # Connections (serve.connections): per remote address and in all; beyond either a new connection gets a JSON
    # 503 and is closed. A connection has header_timeout_s to send a request's headers (after it opens, and
    # between keep-alive requests), so idle or half-open connections cannot hold slots.
    max_connections: int = 256
    max_connections_per_client: int = 32
    header_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{field.name} must be a number, got {type(value).__name__}")
            if value < 0 or (value == 0 and field.name != "max_wait_ms"):
                raise ValueError(f"{field.name} must be positive, got {value}")
        for name in ("refusal_share", "upload_weight"):
            if getattr(self, name) > 1:
                raise ValueError(f"{name} must be at most 1, got {getattr(self, name)}")
