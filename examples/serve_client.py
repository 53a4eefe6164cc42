"""A client of `uniclass serve`, with the standard library only.

Start a server first (pip install "uniclass[serve]"):

    uniclass serve --port 8000

then run: python examples/serve_client.py --url http://127.0.0.1:8000 [--api-key KEY]
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from typing import Any


def call(url: str, payload: Any | None = None, *, method: str = "POST", api_key: str | None = None) -> Any:
    """One JSON request; an HTTP error is raised with the server's one-line message."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        error = json.load(err)["error"]
        raise RuntimeError(f"{err.code} {error['code']}: {error['message']}") from None


def wait_until_up(url: str, timeout_s: float = 120.0) -> None:
    """The server loads its model before it listens: poll /healthz."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            call(f"{url}/healthz", method="GET")
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args()
    wait_until_up(args.url)

    texts = ["Terrible service, I want a refund", "I loved the battery life"]
    body = {"texts": texts, "labels": ["positive", "negative"], "multi_label": False}
    for text, answer in zip(texts, call(f"{args.url}/v1/classify", body, api_key=args.api_key)["results"]):
        print(f"{text!r}: {answer[0]['label']}")

    # A large label set is registered once by name; requests then score only each text's shortlist.
    topics = ["sports", "finance", "politics", "weather", "science", "music", "travel", "food"]
    print(call(f"{args.url}/v1/label-sets/topics", topics, method="PUT", api_key=args.api_key))
    body = {"texts": ["Shares fell 5% after the earnings call"], "label_set": "topics", "multi_label": False}
    print(call(f"{args.url}/v1/classify", body, api_key=args.api_key)["results"][0][0]["label"])

    # Bad input gets a 422 with a one-line message.
    try:
        call(f"{args.url}/v1/classify", {"texts": ["x"], "labels": ["a", "a"]}, api_key=args.api_key)
    except RuntimeError as err:
        print(err)


if __name__ == "__main__":
    main()
