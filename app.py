"""article-qa in the browser: `python app.py` (or `bot serve`) on http://127.0.0.1:7860.

The UI lives in bot/ui.py; this file only wires the bot to it. Host and port
come from ARTICLE_QA_HOST / ARTICLE_QA_PORT (default 127.0.0.1:7860); public
sharing only with `bot serve --share`.
"""

from __future__ import annotations

from bot import Bot
from bot.ui import CSS, build_demo

bot = Bot()
demo = build_demo(bot)

if __name__ == "__main__":
    demo.launch(server_name=bot.settings.host, server_port=bot.settings.port, css=CSS)
