"""Explicit citations: own small examples in en / ru / uk / zh, positives and negatives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from echolens.echo import extract_citations, trace_citations
from echolens.echo.aliases import AliasTable, table_from_yaml
from echolens.echo.commands import register


def names(text: str, lang: str | None = None, publisher: str | None = None) -> list[str]:
    return [c.name for c in extract_citations(text, lang, publisher=publisher)]


@pytest.mark.parametrize(("text", "lang", "expected"), [
    # English: verbs, "according to", inversion, headline tags, coordination, venue
    ("Ukraine's forces retreated from the town, according to RT", "en", ["RT"]),
    ("Lavrov says Moscow is open to talks", "en", ["Sergey Lavrov"]),
    ("Kremlin warns of response to new sanctions", "en", ["Kremlin"]),
    ("Grain deal extended by 120 days: Russian Defense Ministry", "en",
     ["Russian Defense Ministry"]),
    ("Blast hits bridge in Crimea: TASS", "en", ["TASS"]),
    ("Exports to fall sharply this year, says IMF", "en", ["International Monetary Fund"]),
    ("Poland and Lithuania report airspace violations", "en", ["Poland", "Lithuania"]),
    ("Zelensky tells BBC the counteroffensive will take time", "en",
     ["Volodymyr Zelensky", "BBC"]),
    ("Reuters reported that the talks had stalled", "en", ["Reuters"]),
    ("Gorlov Institute of Energy warns of winter shortages", "en",
     ["Gorlov Institute of Energy"]),
    # Russian: verbs, indefinite-personal, markers, quote attribution, case forms
    ("Захарова заявила, что Запад затягивает конфликт", "ru", ["Maria Zakharova"]),
    ("Как сообщает РИА Новости, взрыв произошел ночью", "ru", ["RIA Novosti"]),
    ("По данным Минобороны, сбиты четыре беспилотника", "ru", ["Russian Defense Ministry"]),
    ("В Кремле заявили, что переговоры продолжатся", "ru", ["Kremlin"]),
    ("«Мы готовы к диалогу», — заявил Песков.", "ru", ["Dmitry Peskov"]),
    ("Обстрел продолжался всю ночь — ТАСС", "ru", ["TASS"]),
    ("Шойгу: армия выполнит все задачи", "ru", ["Sergei Shoigu"]),
    # Ukrainian
    ("За даними Генштабу ЗСУ, ворог втратив ще 500 осіб", "uk", ["Ukrainian General Staff"]),
    ("Кулеба заявив, що Україна не піде на поступки", "uk", ["Dmytro Kuleba"]),
    ("Росія перекидає резерви на південь – Подоляк", "uk", ["Mykhailo Podolyak"]),
    ("Як повідомляє Укрінформ, у Києві пролунали вибухи", "uk", ["Ukrinform"]),
    ("Стаття Guardian «доводить», що санкції не працюють", "uk", ["Guardian"]),
    # Chinese
    ("据塔斯社报道，俄军已撤出该地区", "zh", ["TASS"]),
    ("俄新社消息，谈判将于下周举行", "zh", ["RIA Novosti"]),
    ("外交部发言人汪文斌说，中方立场是一贯的", "zh", ["Wang Wenbin"]),
    ("俄外长：西方正在拖延冲突", "zh", ["Russian Foreign Ministry"]),
    ("今日俄罗斯称乌克兰无人机袭击了炼油厂", "zh", ["RT"]),
    ("匈牙利总理：制裁将危机变成经济战", "zh", ["Hungarian Prime Minister"]),
    ("俄方表示不排除会晤可能性 七国集团称将进一步制裁", "zh", ["Russia", "G7"]),
    # a person after a role and a country; an outlet as the carrier of a quote
    ("Как заявил премьер-министр Великобритании Дэвид Кэмерон, санкции сохранятся.", "ru",
     ["David Cameron"]),
    ("Как заявил премьер-министр Великобритании Дэвид Корнуэлл, санкции сохранятся.", "ru",
     ["Дэвид Корнуэлл"]),
    ("«Это ошибка», — заявил в интервью Bild министр Олаф Шольц.", "ru",
     ["Bild", "Olaf Scholz"]),
    ("ВІДЕОЗеленський: Енергетики працюють", "uk", ["Volodymyr Zelensky"]),
    ("Mass shooting investigated as hate crime: U.S. Justice Department", "en",
     ["US Justice Department"]),
    ("Prison riot leaves 12 dead in the capital: Bolivian Justice Department", "en",
     ["Bolivian Justice Department"]),
    ("Західні танки не допоможуть ЗСУ – Академія оборони Данії", "uk",
     ["Академія оборони Данії"]),
    ("Зеленський про Абрамовича: Він допомагав у питанні гумконвоїв", "uk",
     ["Volodymyr Zelensky"]),
    ("Iranian foreign ministry says talks continue in Doha", "en",
     ["Iranian Foreign Ministry"]),
    # a nationality and an office: named after the country's office (minister -> ministry)
    ("Ukrainian defense minister says more tanks are on the way", "en",
     ["Ukrainian Defense Ministry"]),
    ("Polish government says the border will stay open", "en", ["Poland"]),
    ("Ukrainian military says it repelled attacks near the river", "en",
     ["Ukrainian Armed Forces"]),
    ("Ruritanian foreign minister says envoy recalled", "en",
     ["Ruritanian foreign minister"]),  # a nationality the table lacks: as written
    # an unnamed office in a tag, named after the nearest city or country before it
    ("У Мелітополі окупанти відключили мобільний зв'язок – мер", "uk", ["Melitopol Mayor"]),
    ("В Краматорске восстановили водоснабжение — мэр", "ru", ["Kramatorsk Mayor"]),
    ("У Харкові пролунали вибухи – мер", "uk", ["Kharkiv Mayor"]),  # oblique stem Харков
    ("Після обстрілу Ізюма евакуацію продовжать – голова райадміністрації", "uk",
     ["Izium District Administration head"]),
    ("Японія не визнає результатів псевдореферендумів – МЗС країни", "uk",
     ["Japanese Foreign Ministry"]),
    ("Польща готова прийняти ще біженців – уряд країни", "uk", ["Poland"]),
])
def test_cited_sources(text: str, lang: str, expected: list[str]) -> None:
    assert names(text, lang) == expected


@pytest.mark.parametrize(("text", "lang"), [
    # a city does not speak, nor a bare nationality; a role tag needs a place to name it
    ("В Донецке заявили о новых обстрелах", "ru"),
    ("Ukrainian says he was held for a week", "en"),
    ("Нові укриття відкрили для дітей – мер", "uk"),
    # vague attributions
    ("Inflation to slow next year: experts", "en"),
    ("Officials say the road will reopen soon", "en"),
    ("СМИ: переговоры могут возобновиться в мае", "ru"),
    ("Эксперты заявили, что цены вырастут", "ru"),
    ("Окупанти обстріляли Херсон – ЗМІ", "uk"),
    ("美媒：谈判陷入僵局", "zh"),
    ("乌官员称前线形势严峻", "zh"),
    # names that are mentioned but not cited: subject of an act, addressee, topic, dateline
    ("Putin signs law on new regions", "en"),
    ("Biden announces new sanctions against Moscow", "en"),
    ("Feature: Life returns to the streets of Kharkiv", "en"),
    ("Путин провел встречу с Лукашенко в Сочи", "ru"),
    ("Зеленський зустрівся з Байденом у Вашингтоні", "uk"),
    ("王毅同乌克兰外长库列巴通电话", "zh"),
    ("Дніпропетровщина: дрон впав на подвір'я – 6 постраждалих", "uk"),
    # pronouns and negated speech
    ("«Это ошибка», — заявил он.", "ru"),
    ("«Самый сильный — это Россия», — добавил политик.", "ru"),
    ("Вице-премьер Украины заявила, что эвакуация продолжается", "ru"),
    ("Relics in China reveal ancient lifestyle", "en"),
    ("Blast hits bridge in Crimea", "en"),
    ("Japan urged to learn from history", "en"),
    ("Chinese Vice Premier urges efforts to contain COVID-19", "en"),
    ("World Heritage in China: Yin Xu", "en"),
    ("Украина объявила о новых мерах, сообщил он в России.", "ru"),
    ("乌克兰宣布禁止出口粮食", "zh"),
    ("乌克兰总统发布全国军事动员令", "zh"),
    ("俄乌谈判前景不明", "zh"),
    ("俄罗斯斥资百亿修建大桥", "zh"),
    ("Мешканці Запоріжжя просять включити їхню територію до складу Росії", "uk"),
    ("Кремль не стал комментировать сообщения", "ru"),
])
def test_no_citation(text: str, lang: str) -> None:
    assert names(text, lang) == []


def test_unknown_chinese_name_needs_jieba() -> None:
    pytest.importorskip("jieba")  # optional: names outside the table are found by its tagger
    assert names("卡拉斯说，爱沙尼亚将继续支持乌克兰", "zh") == ["卡拉斯"]


def test_unqualified_ministry_tag_is_the_state_outlets_own() -> None:
    text = "Foreign ministry: talks with Kazakhstan to resume in May"
    assert names(text, "en", publisher="Xinhua") == ["Chinese Foreign Ministry"]
    assert names(text, "en", publisher="TASS") == ["Russian Foreign Ministry"]
    assert names(text, "en", publisher="Reuters") == []  # whose ministry: not recoverable
    assert names(text, "en") == []


def test_publisher_is_never_its_own_source() -> None:
    text = "«Это был трудный день», — рассказала RT Мишлин."
    assert names(text, "ru", publisher="RT") == ["Мишлин"]
    assert names("Smoke over the plant extinguished: TASS", "en", publisher="TASS") == []
    # the publisher named by an alias is still recognised
    assert names("Взрыв на мосту — ТАСС", "ru", publisher="TASS") == []


def test_unknown_names_are_kept_unresolved_with_offsets() -> None:
    text = "Пасынков заявил, что обстрел продолжался всю ночь"
    (cit,) = extract_citations(text, "ru")
    assert (cit.name, cit.resolved, cit.kind) == ("Пасынков", False, "person")
    assert text[cit.start:cit.end] == cit.cue == "Пасынков"
    (known,) = extract_citations("Лаврова спросили о переговорах, заявил Лавров.", "ru")
    assert (known.name, known.cue, known.resolved) == ("Sergey Lavrov", "Лавров", True)


def test_sole_source_and_language_guess() -> None:
    assert trace_citations("Blast hits bridge in Crimea: TASS").sole_source
    two = trace_citations("Zelensky left Kyiv, Duma speaker says: Sputnik")
    assert [c.name for c in two.citations] == ["Russian State Duma Speaker", "Sputnik"]
    assert not two.sole_source
    assert not trace_citations("Nothing to see here").sole_source
    assert names("据塔斯社报道，俄军已撤出") == ["TASS"]


def test_alias_table_resolves_all_scripts_and_case_forms() -> None:
    table = AliasTable.load()
    for name in ["RT", "Russia Today", "Раша Тудэй", "今日俄罗斯"]:
        assert table.canonical(name) == table.canonical("RT")
    for name, canonical in [("ТАСС", "TASS"), ("塔斯社", "TASS"), ("Спутник", "Sputnik"),
                            ("俄罗斯卫星通讯社", "Sputnik"), ("俄新社", "RIA Novosti"),
                            ("Минобороны России", "Russian Defense Ministry"),
                            ("Лаврову", "Sergey Lavrov"), ("Зеленського", "Volodymyr Zelensky")]:
        source = table.canonical(name)
        assert source is not None and source.name == canonical, name
    assert table.canonical("us") is None  # short capitals match only as written


def test_custom_alias_table() -> None:
    table = table_from_yaml("- {name: Daily Planet, kind: media, aliases: [Планета]}\n")
    cits = extract_citations("Как пишет Планета, мост закрыт", "ru", aliases=table)
    assert [(c.name, c.kind) for c in cits] == [("Daily Planet", "media")]


def test_cli_extract(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """echolens (test app)."""

    register(app)
    src = tmp_path / "in.jsonl"
    dst = tmp_path / "out.jsonl"
    src.write_text("\n".join([
        json.dumps({"id": "a", "text": "Blast hits bridge in Crimea: TASS", "lang": "en"}),
        "{not json",
        json.dumps({"id": "b", "text": "据塔斯社报道，俄军已撤出"}),
        json.dumps({"id": "c"}),
        json.dumps({"id": 4, "text": "Inflation to slow next year: experts"}),
    ]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["citations", "extract", "--input", str(src),
                                      "--output", str(dst)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "4"]
    assert rows[0]["citations"] == [{"name": "TASS", "cue": "TASS", "kind": "media",
                                     "resolved": True}]
    assert rows[1]["citations"][0]["cue"] == "塔斯社"
    assert rows[2]["citations"] == []
    assert ":2: skipped: invalid JSON" in result.stderr
    assert ":4: skipped: missing or invalid 'text'" in result.stderr
    before = src.read_bytes()
    itself = CliRunner().invoke(app, ["citations", "extract", "--input", str(src),
                                      "--output", str(src)])
    assert itself.exit_code == 2 and "is the input file" in itself.stderr
    assert src.read_bytes() == before  # was truncated before it was read
