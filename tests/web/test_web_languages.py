"""Pages in the send's language (every shipped one), the configured fallback, and a program's
own texts on the pages, over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from web_support import AddSend, ServeWith, heading

from closedloop.daemon.surveys import Policy, Program, SurveyType
from closedloop.daemon.web.tokens import Purpose, TokenSigner

# (CRM language tag, <html lang>, a phrase of the NPS question, of the unsubscribe page)
LANGUAGES = [
    ("en-US", "en", "How likely are you to recommend Acme", "Only pause them until"),
    ("fr-FR", "fr", "Quelle est la probabilité que vous recommandiez Acme",
     "Seulement les suspendre jusqu’au"),
    ("no", "nb", "Hvor sannsynlig er det at du vil anbefale Acme", "Bare sett dem på pause til"),
    ("de-CH", "de", "Wie wahrscheinlich ist es, dass Sie Acme", "Nur bis zum"),
    ("es-419", "es", "¿Qué probabilidad hay de que recomiende Acme", "Solo pausarlas hasta el"),
]


@pytest.mark.parametrize(("tag", "lang", "question", "pause"), LANGUAGES)
def test_every_page_speaks_the_sends_language(
    client: httpx.Client, signer: TokenSigner, add_send: AddSend,
    tag: str, lang: str, question: str, pause: str,
) -> None:
    """Landing, comment, thanks and unsubscribe pages all come out in the contact's language
    (a browser asking for another one changes nothing: the page matches the mail)."""
    send_id = add_send(language=tag)
    token = signer.make(send_id)
    headers = {"accept-language": "fr" if lang != "fr" else "de"}
    landing = client.get(f"/r/{token}/9", headers=headers)
    client.post(f"/r/{token}/9")
    comment = client.get(f"/c/{token}", headers=headers)
    thanks = client.get(f"/t/{token}", headers=headers)
    unsubscribe = client.get(
        f"/u/{signer.make(send_id, purpose=Purpose.UNSUBSCRIBE)}", headers=headers
    )
    for page in (landing, comment, thanks, unsubscribe):
        assert page.status_code == 200
        assert f'<html lang="{lang}">' in page.text
    assert question in comment.text
    assert pause in unsubscribe.text


@pytest.mark.parametrize("tag", [None, "pt-br", "it"])
def test_unknown_language_gets_the_configured_fallback(
    serve_with: ServeWith, signer: TokenSigner, add_send: AddSend, tag: str | None
) -> None:
    """No language, or one without a catalog: Policy.fallback_language, as the mail did."""
    token = signer.make(add_send(language=tag))
    with serve_with(policy=Policy(fallback_language="nb")) as client:
        page = client.get(f"/c/{token}", headers={"accept-language": "fr"})
    assert '<html lang="nb">' in page.text
    assert "Hvor sannsynlig er det at du vil anbefale Acme" in page.text


def test_error_page_without_a_send_uses_the_browser_then_the_fallback(
    serve_with: ServeWith,
) -> None:
    """A cut link has no send: the browser's language if shipped, else the fallback."""
    with serve_with(policy=Policy(fallback_language="es")) as client:
        german = client.get("/c/garbage", headers={"accept-language": "de-AT, en;q=0.5"})
        italian = client.get("/c/garbage", headers={"accept-language": "it"})
    assert (german.status_code, heading(german)) == (400, "Dieser Link ist ungültig")
    assert (italian.status_code, heading(italian)) == (400, "Este enlace no es válido")


OVERRIDDEN = Program(
    "nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme",
    follow_up="What should we change?",
    texts={
        "fr": {"question": "{first_name}, recommanderiez-vous {company} ? {unknown} {",
               "follow_up": "Qu’est-ce qui vous a plu chez {company} ?",
               "thanks": "Merci {first_name}, l’équipe {company} lit chaque réponse."},
        "no": {"thanks": "Takk, {first_name}!"},
    },
)


def test_program_texts_override_the_pages_in_their_language(
    serve_with: ServeWith, signer: TokenSigner, add_send: AddSend
) -> None:
    """question, follow_up and thanks overrides show on the pages, placeholders filled and
    stray braces kept; texts under "no" serve the bokmål pages."""
    french = signer.make(add_send(language="fr", first_name="Zoé"))
    norwegian = signer.make(add_send(language="nb-NO", first_name="Ola"))
    with serve_with(programs={"nps": OVERRIDDEN}) as client:
        client.post(f"/r/{french}/10")
        comment = client.get(f"/c/{french}").text
        thanks = client.get(f"/t/{french}").text
        client.post(f"/r/{norwegian}/10")
        norwegian_thanks = client.get(f"/t/{norwegian}").text
    assert "<legend>Zoé, recommanderiez-vous Acme ? {unknown} {</legend>" in comment
    assert "Qu’est-ce qui vous a plu chez Acme ?" in comment
    assert "<p>Merci Zoé, l’équipe Acme lit chaque réponse.</p>" in thanks
    assert "<p>Takk, Ola!</p>" in norwegian_thanks


def test_other_languages_keep_the_catalog_and_the_configured_follow_up(
    serve_with: ServeWith, signer: TokenSigner, add_send: AddSend
) -> None:
    """Without an override for its language a page shows the catalog's question, the
    program's follow_up and the catalog's thanks."""
    german = signer.make(add_send(language="de"))
    with serve_with(programs={"nps": OVERRIDDEN}) as client:
        client.post(f"/r/{german}/10")
        comment = client.get(f"/c/{german}").text
        thanks = client.get(f"/t/{german}").text
    assert ("dass Sie Acme in Ihrem Freundes- oder Kollegenkreis weiterempfehlen?</legend>"
            in comment)
    assert "What should we change?" in comment
    assert "Ihr Feedback hilft Acme, besser zu werden." in thanks


def test_override_text_is_escaped_on_the_page(
    serve_with: ServeWith, signer: TokenSigner, add_send: AddSend
) -> None:
    """An override is text, not HTML: markup in it (or in a first name) is shown, not run."""
    program = Program("nps", SurveyType.NPS, "hubspot", timedelta(0), "Acme",
                      texts={"en": {"thanks": "<b>Thanks</b> {first_name}"}})
    token = signer.make(add_send(language="en", first_name="<script>x</script>"))
    with serve_with(programs={"nps": program}) as client:
        page = client.get(f"/t/{token}").text
    assert "&lt;b&gt;Thanks&lt;/b&gt; &lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x" not in page
