from __future__ import annotations

import pytest

from echolens.text.urls import canonical_url, domain_of, is_tracking_param


def test_tracking_params_stripped_and_sorted() -> None:
    url = (
        "HTTP://WWW.Example.COM:80/world/article-1/?utm_source=tw&utm_medium=social&b=2&a=1"
        "&fbclid=IwAR0&gclid=xyz&yclid=1&ref=home#comments"
    )
    assert canonical_url(url) == "https://example.com/world/article-1?a=1&b=2"


def test_variants_of_one_article_are_equal() -> None:
    variants = [
        "https://www.tass.ru/politika/14012345",
        "http://tass.ru/politika/14012345/",
        "https://tass.ru/politika/14012345?utm_source=yandex.ru&utm_medium=organic#top",
        "https://m.tass.ru/politika/14012345?from=yandex",
        "tass.ru/politika/14012345",
    ]
    assert {canonical_url(v) for v in variants} == {"https://tass.ru/politika/14012345"}


def test_chinese_site_share_params() -> None:
    url = "https://world.people.com.cn/n1/2022/0308/c1002-32369.html?spm=a2c4g&from=timeline&isappinstalled=0"
    assert canonical_url(url) == "https://world.people.com.cn/n1/2022/0308/c1002-32369.html"


def test_content_params_kept() -> None:
    url = "https://www.youtube.com/watch?v=abc123&feature=share&si=XYZ"
    assert canonical_url(url) == "https://youtube.com/watch?si=XYZ&v=abc123"


def test_idna_and_percent_escapes() -> None:
    a = canonical_url("https://пример.рф/новости?q=война")
    b = canonical_url(
        "https://XN--E1AFMKFD.XN--P1AI/%d0%bd%d0%be%d0%b2%d0%be%d1%81%d1%82%d0%b8?q=%D0%B2%D0%BE%D0%B9%D0%BD%D0%B0"
    )
    assert a == b
    assert a is not None and a.startswith("https://xn--e1afmkfd.xn--p1ai/%D0%BD")


def test_root_keeps_slash_and_ports() -> None:
    assert canonical_url("https://bbc.com") == "https://bbc.com/"
    assert canonical_url("https://bbc.com:443/") == "https://bbc.com/"
    assert canonical_url("http://example.com:8080/a/") == "https://example.com:8080/a"


def test_amp_variant() -> None:
    assert (
        canonical_url("https://amp.dw.com/en/story/a-61234/amp")
        == "https://dw.com/en/story/a-61234"
    )


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "ftp://example.com/file",
        "mailto:editor@tass.ru",
        "javascript:void(0)",
        "not a url",
        "http://",
        "https://example.com:99999/",
        "http://localhost/x",
    ],
)
def test_rejects(url: str | None) -> None:
    assert canonical_url(url) is None


def test_domain_of() -> None:
    assert domain_of("https://www.globaltimes.cn/page/202203/1255555.shtml") == "globaltimes.cn"
    assert domain_of("http://World.People.com.cn/n1/2022/x.html") == "world.people.com.cn"
    assert domain_of("https://m.facebook.com/story.php?id=1") == "facebook.com"
    assert domain_of("t.me/rian_ru/12") == "t.me"
    assert domain_of("nonsense") is None


def test_is_tracking_param() -> None:
    assert is_tracking_param("UTM_Campaign")
    assert is_tracking_param("fbclid")
    assert not is_tracking_param("id")
