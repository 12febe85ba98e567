"""The company's brand in the config: the contrast check `closedloop check` applies to the
colour (with the ratio it reached), and how [brand] and [programs.brand] combine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import write_config
from typer.testing import CliRunner

from closedloop.daemon.brand import Brand, contrast_ratio
from closedloop.daemon.cli import app
from closedloop.daemon.config import parse_config
from closedloop.integration.errors import ConfigError

ENV = {"CLOSEDLOOP_SECRET_KEY": "k" * 32, "CLOSEDLOOP_HUBSPOT_TOKEN": "pat-test"}


def test_contrast_ratio_matches_wcag() -> None:
    """Black on white is 21:1, a colour on itself 1:1, the default blue 6.7:1."""
    assert round(contrast_ratio("#000000", "#ffffff"), 2) == 21.0
    assert round(contrast_ratio("#1d4ed8", "#1d4ed8"), 2) == 1.0
    assert round(contrast_ratio("#ffffff", "#1d4ed8"), 2) == 6.7


def test_check_refuses_a_colour_too_light_for_white_text_with_the_ratio(
    tmp_path: Path,
) -> None:
    """A pale brand colour stops `closedloop check` (exit 2) with one line naming the key,
    the ratio it reached and the ratio needed; the program's own colour is checked too."""
    config = write_config(tmp_path, extra='[programs.brand]\ncolor = "#7DD3FC"\n'
                                          '[brand]\ncolor = "#777"\n')
    result = CliRunner().invoke(app, ["check", "--config", str(config)], env=ENV)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {config}: brand.color: #777777 behind white button text reaches a contrast "
        "of 4.47:1; at least 4.5:1 is needed (WCAG AA): choose a darker shade (got '#777')",
        f"error: {config}: programs[0].brand.color: #7dd3fc behind white button text reaches "
        "a contrast of 1.66:1; at least 4.5:1 is needed (WCAG AA): choose a darker shade "
        "(got '#7DD3FC')",
    ]


def test_check_accepts_a_colour_just_dark_enough(tmp_path: Path) -> None:
    """#767676 reaches 4.54:1 (just above the edge #777777 misses): accepted."""
    config = write_config(tmp_path, extra='[brand]\ncolor = "#767676"\n')
    result = CliRunner().invoke(app, ["check", "--config", str(config)], env=ENV)
    assert (result.exit_code, result.stderr) == (0, "")


def _config(brand: dict[str, Any] | None = None,
            programs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sources": {"hubspot": {"crm": "hubspot"}},
        "mail": {"host": "127.0.0.1", "from_address": "surveys@acme.example",
                 "reply_to": "help@acme.example"},
        "programs": programs or [{"name": "nps", "type": "nps", "source": "hubspot",
                                  "company": "Acme"}],
    }
    if brand is not None:
        data["brand"] = brand
    return data


def test_program_brand_overrides_the_config_brand_key_by_key() -> None:
    """[programs.brand] replaces only the keys it sets; the rest come from [brand]; the
    footer name defaults to the program's company and the help address to mail.reply_to."""
    config = parse_config(_config(
        brand={"color": "#0f766e", "logo_url": "https://cdn.acme.example/logo.png",
               "logo_width": 160, "address": "1 Main St\nSpringfield",
               "privacy_url": "https://acme.example/privacy"},
        programs=[
            {"name": "nps", "type": "nps", "source": "hubspot", "company": "Acme"},
            {"name": "pro", "type": "nps", "source": "hubspot", "company": "Acme Pro",
             "brand": {"color": "#7c2d12", "logo_alt": "Acme Pro logo",
                       "support_email": "pro@acme.example"}},
        ]))
    plain, pro = config.program_list()
    assert plain.branding == Brand(
        company="Acme", color="#0f766e", logo_url="https://cdn.acme.example/logo.png",
        logo_alt="Acme", logo_width=160, address="1 Main St\nSpringfield",
        privacy_url="https://acme.example/privacy", support_email="help@acme.example")
    assert pro.branding == Brand(
        company="Acme Pro", color="#7c2d12", logo_url="https://cdn.acme.example/logo.png",
        logo_alt="Acme Pro logo", logo_width=160, address="1 Main St\nSpringfield",
        privacy_url="https://acme.example/privacy", support_email="pro@acme.example")
    assert plain.branding.address_lines == ["1 Main St", "Springfield"]


def test_default_brand_of_pages_without_a_program() -> None:
    """A cut link's page wears [brand] under its name, else under the one company every
    program names; with two companies and no name, no name is guessed."""
    assert parse_config(_config(brand={"name": "Acme Group"})).default_brand().company == (
        "Acme Group")
    assert parse_config(_config()).default_brand().company == "Acme"
    two = parse_config(_config(programs=[
        {"name": "a", "type": "nps", "source": "hubspot", "company": "Acme"},
        {"name": "b", "type": "nps", "source": "hubspot", "company": "Globex"}]))
    assert two.default_brand().company == ""


@pytest.mark.parametrize(
    ("brand", "problem"),
    [
        ({"colour": "#000000"}, "config: brand.colour: unknown key (check the spelling; "
                                "`closedloop init` writes every key, commented)"),
        ({"color": "blue"}, "config: brand.color: expected a colour such as \"#1d4ed8\", "
                            "got 'blue'"),
        ({"logo_url": "ftp://x.example/l.png"}, "config: brand.logo_url: expected an http(s) "
                                                "URL such as https://example.com, got "
                                                "'ftp://x.example/l.png'"),
        ({"logo_url": "https://cdn.example;script-src *"},
         "config: brand.logo_url: expected an http(s) URL such as https://example.com, got "
         "'https://cdn.example;script-src *'"),
        ({"logo_url": "https://user@cdn.example/l.png"},
         "config: brand.logo_url: expected an http(s) URL such as https://example.com, got "
         "'https://user@cdn.example/l.png'"),
        ({"support_email": "help"}, "config: brand.support_email: expected an e-mail address "
                                    "such as help@example.com, got 'help'"),
    ],
)
def test_bad_brand_keys_are_refused_clearly(brand: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(brand=brand))
    assert caught.value.problems == [problem]
