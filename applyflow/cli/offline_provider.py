"""`offline-provider`: the offline model behind an OpenAI-compatible API, to rehearse a paid
configuration for free."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from applyflow.cli._app import JsonFlag, app, console, fail, handle_errors, print_json

DEFAULT_PORT = 8765  # applyflow.offline_provider.DEFAULT_PORT; that module loads LangChain


@app.command("offline-provider")
@handle_errors
def offline_provider(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one).", min=0, max=65535)] = (
        DEFAULT_PORT
    ),
    latency_s: Annotated[
        float, typer.Option("--latency-s", help="Seconds each answer takes, like a provider's.")
    ] = 0.0,
    json_out: JsonFlag = False,
) -> None:
    """Serve the offline model as an OpenAI-compatible provider on http://127.0.0.1:8765/v1.

    Point a paid configuration at it to rehearse a run for free, with the key, prices, caps,
    rate windows, Prefect slots and breakers all engaged:

        APPLYFLOW_MODEL=openai:gpt-4o-mini APPLYFLOW_BASE_URL=http://127.0.0.1:8765/v1
        APPLYFLOW_API_KEY=practice applyflow run

    It answers POST /v1/chat/completions (with usage) and GET /v1/models. Spend is recorded at
    the model's real price, though nothing is billed.
    """
    if latency_s < 0:
        raise fail("--latency-s must be 0 or more", 2)
    from applyflow.offline_provider import OfflineProvider

    try:
        provider = OfflineProvider(host, port, latency_s=latency_s)
    except OSError as exc:
        raise fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    if json_out:
        print_json({"url": provider.url, "models": "any", "latency_s": latency_s})
    else:
        console.print(
            f"offline provider on {provider.url}  (Ctrl+C stops it)\n"
            f"  export APPLYFLOW_MODEL=openai:gpt-4o-mini APPLYFLOW_BASE_URL={provider.url}"
            " APPLYFLOW_API_KEY=practice",
            highlight=False,
            soft_wrap=True,
        )
    sys.stdout.flush()
    try:
        provider.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        provider.server.server_close()
