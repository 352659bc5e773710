"""A small multilingual lexicon of the domain: actors, places and alleged acts of the
disinformation narratives about Russia, Ukraine, the West and China.

Each concept lists word stems (matched at a word start, case-insensitive) in English, Russian,
Ukrainian and Chinese (matched as substrings). A claim and a fact-check that mention the same
concept share the index term `c:<concept>` whatever their language, which is what lets a
Chinese headline meet an English EUvsDisinfo case. Written from general knowledge of the
domain (EUvsDisinfo keyword lists, StopFake topics), not from evaluation queries; extend it
rather than special-casing texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# concept -> (stems in Latin/Cyrillic script, Chinese substrings)
CONCEPTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # -- actors and places ---------------------------------------------------------------
    "usa": (("us", "u.s", "usa", "america", "washington", "pentagon", "сша", "америк",
             "вашингтон", "пентагон", "штаты", "штатів", "штатам"),
            ("美国", "美方", "美军", "五角大楼", "华盛顿", "美")),
    "pentagon": (("pentagon", "department of defense", "пентагон"), ("五角大楼", "美国国防部")),
    "nato": (("nato", "north atlantic", "нато", "североатлант", "північноатлант"),
             ("北约",)),
    "eu": (("eu", "european union", "brussels", "евросоюз", "ес", "єс", "брюссел",
            "європейськ союз", "евроcоюз"), ("欧盟", "布鲁塞尔")),
    "europe": (("europe", "european", "европ", "європ"), ("欧洲",)),
    "west": (("west", "western", "запад", "захід", "заход", "західн"), ("西方",)),
    "russia": (("russia", "russian", "moscow", "kremlin", "росси", "россий", "росія",
                "російськ", "рф", "москв", "кремл"), ("俄罗斯", "俄方", "俄军", "克里姆林宫",
                                                        "莫斯科", "俄")),
    "ukraine": (("ukrain", "kyiv", "kiev", "украин", "україн", "киев", "київ", "всу", "зсу"),
                ("乌克兰", "乌方", "乌军", "基辅", "乌")),
    "ukraine_army": (("ukrainian army", "ukrainian forces", "ukrainian military",
                      "ukrainian soldiers", "ukrainian troops", "armed forces of ukraine",
                      "всу", "зсу", "украинские военные", "українські військові",
                      "украинской армии", "української армії", "вооруженные силы украины",
                      "збройні сили україни", "кийвский режим", "киевский режим",
                      "київський режим"), ("乌军", "乌克兰军队", "乌克兰武装部队", "乌克兰军方")),
    "belarus": (("belarus", "minsk", "lukashenk", "беларус", "білорус", "минск", "мінськ",
                 "лукашенк"), ("白俄罗斯", "明斯克", "卢卡申科")),
    "poland": (("poland", "polish", "pole", "warsaw", "польш", "польськ", "польщ", "польск",
                "варшав", "поляк"), ("波兰", "华沙")),
    "baltics": (("baltic", "lithuan", "latvia", "estonia", "прибалт", "балтi", "балти",
                 "литв", "латви", "латві", "эстони", "естоні"),
                ("波罗的海", "立陶宛", "拉脱维亚", "爱沙尼亚")),
    "germany": (("german", "berlin", "scholz", "merkel", "герман", "німеч", "немец", "німец",
                 "берлин", "берлін", "шольц", "меркел"), ("德国", "柏林", "朔尔茨", "默克尔")),
    "uk_gb": (("britain", "british", "london", "england", "британ", "лондон", "англи",
               "англі"), ("英国", "伦敦")),
    "france": (("france", "french", "paris", "macron", "франц", "париж", "макрон"),
               ("法国", "巴黎", "马克龙")),
    "china": (("china", "chinese", "beijing", "китай", "китаї", "пекин", "пекін"),
              ("中国", "北京", "中方")),
    "georgia": (("georgia", "tbilisi", "lugar", "грузи", "тбилис", "тбіліс", "лугар"),
                ("格鲁吉亚", "第比利斯")),
    "moldova": (("moldov", "transnistri", "молдов", "приднестров", "придністров"),
                ("摩尔多瓦", "德涅斯特")),
    "syria": (("syria", "assad", "aleppo", "douma", "сири", "сирі", "асад", "алеппо", "дума"),
              ("叙利亚", "阿萨德")),
    "crimea": (("crimea", "крым", "крим", "sevastopol", "севастопол"), ("克里米亚",)),
    "donbas": (("donbas", "donbass", "donetsk", "luhansk", "lugansk", "dpr", "lpr", "донбас",
                "донецк", "донецьк", "луганск", "луганськ", "днр", "лнр"),
               ("顿巴斯", "顿涅茨克", "卢甘斯克")),
    "mariupol": (("mariupol", "azovstal", "мариупол", "маріупол", "азовстал"),
                 ("马里乌波尔", "亚速钢铁厂")),
    "kharkiv": (("kharkiv", "kharkov", "харьков", "харків"), ("哈尔科夫",)),
    "bucha": (("bucha", "буча", "бучі", "бучу", "бучи", "буче", "бучан", "бучанск"), ("布查",)),
    "kramatorsk": (("kramatorsk", "краматорск", "краматорськ"), ("克拉马托尔斯克",)),
    "zaporizhzhia": (("zaporizh", "zaporozh", "enerhodar", "запорож", "запоріж", "энергодар",
                      "енергодар"), ("扎波罗热",)),
    "kherson": (("kherson", "херсон"), ("赫尔松",)),
    "odesa": (("odesa", "odessa", "одесс", "одес"), ("敖德萨",)),
    "chernobyl": (("chernobyl", "chornobyl", "чернобыл", "чорнобил"), ("切尔诺贝利",)),
    "zelensky": (("zelensk", "zelenskyy", "зеленск", "зеленськ"),
                 ("泽连斯基", "泽伦斯基", "泽林斯基")),
    "putin": (("putin", "путин", "путін"), ("普京",)),
    "biden": (("biden", "hunter", "байден"), ("拜登",)),
    "trump": (("trump", "трамп"), ("特朗普",)),
    "lavrov": (("lavrov", "лавров"), ("拉夫罗夫",)),
    "soros": (("soros", "сорос"), ("索罗斯",)),
    "navalny": (("navaln", "навальн"), ("纳瓦尔尼",)),
    "skripal": (("skripal", "salisbury", "скрипал", "солсбери"), ("斯克里帕尔",)),
    "mh17": (("mh17", "mh-17", "boeing", "malaysian airlines", "боинг", "боїнг"),
             ("MH17", "马航")),
    "gates": (("gates", "гейтс"), ("盖茨",)),
    "azov": (("azov", "азов"), ("亚速营", "亚速")),
    "hungary": (("hungar", "orban", "венгр", "угорщ", "угорськ", "орбан"), ("匈牙利",)),
    "romania": (("romania", "румын", "румун"), ("罗马尼亚",)),
    "turkey": (("turkey", "turkish", "erdogan", "турц", "туреч", "эрдоган", "ердоган"),
               ("土耳其", "埃尔多安")),
    "iran": (("iran", "иран", "іран"), ("伊朗",)),
    "africa": (("africa", "африк"), ("非洲",)),
    "taiwan": (("taiwan", "тайван"), ("台湾",)),
    "disguise": (("uniform", "disguised", "dressed as", "переодет", "переодяг", "в форме",
                  "у формі", "форму"), ("军装", "制服", "伪装成", "冒充")),
    "osce": (("osce", "обсе", "обсє"), ("欧安组织",)),
    "canada": (("canad", "канад"), ("加拿大",)),
    "generals": (("general", "officer", "instructor", "генерал", "офицер", "офіцер",
                  "инструктор", "інструктор"), ("将军", "军官", "教官")),
    "terrorism": (("terror", "террор", "терор", "sabotage", "диверс"),
                  ("恐怖", "破坏活动")),
    "prisoners": (("prisoner", "pow", "captive", "пленн", "полонен", "полонених"),
                  ("战俘", "俘虏")),
    "places_east": (("soledar", "bakhmut", "artemivsk", "izyum", "izium", "severodonetsk",
                     "lysychansk", "avdiivka", "olenivka", "соледар", "бахмут", "артемовск",
                     "изюм", "ізюм", "северодонецк", "сєвєродонецьк", "лисичанск",
                     "лисичанськ", "авдеевк", "авдіївк", "оленовк", "оленівк"),
                    ("索莱达尔", "巴赫穆特", "伊久姆", "北顿涅茨克", "利西昌斯克", "奥列尼夫卡")),
    "places_other": (("irpin", "hostomel", "kremenchuk", "vinnytsia", "vinnitsa", "dnipro",
                      "lviv", "sumy", "chernihiv", "mykolaiv", "nikolaev", "melitopol",
                      "ирпен", "ірпін", "гостомел", "кременчуг", "кременчук", "винниц",
                      "вінниц", "днепр", "дніпр", "львов", "львів", "сумы", "суми",
                      "чернигов", "чернігів", "николаев", "миколаїв", "мелитопол",
                      "мелітопол"), ("伊尔平", "戈斯托梅尔", "克列缅丘格", "文尼察", "第聂伯",
                                     "利沃夫", "苏梅", "切尔尼戈夫", "尼古拉耶夫", "梅利托波尔")),
    "officials_ua": (("zaluzhn", "kuleba", "podolyak", "podoliak", "reznikov", "budanov",
                      "danilov", "poroshenko", "klitschko", "залужн", "кулеб", "подоляк",
                      "резников", "резніков", "буданов", "данилов", "данілов", "порошенк",
                      "кличк"), ("扎卢日内", "库列巴", "波多利亚克", "列兹尼科夫", "布达诺夫",
                                 "达尼洛夫", "波罗申科", "克利奇科")),
    "officials_ru": (("shoigu", "peskov", "zakharova", "medvedev", "kadyrov", "prigozhin",
                      "nebenzya", "шойгу", "песков", "захаров", "медведев", "кадыров",
                      "кадиров", "пригожин", "небенз"), ("绍伊古", "佩斯科夫", "扎哈罗娃",
                                                         "梅德韦杰夫", "卡德罗夫", "普里戈任",
                                                         "涅边贾")),
    "officials_west": (("stoltenberg", "blinken", "nuland", "austin", "johnson", "duda",
                        "morawiecki", "von der leyen", "borrell", "столтенберг", "блинкен",
                        "блінкен", "нуланд", "остин", "джонсон", "дуда", "моравецк",
                        "боррель"), ("斯托尔滕贝格", "布林肯", "纽兰", "奥斯汀", "约翰逊",
                                     "杜达", "莫拉维茨基", "冯德莱恩", "博雷利")),
    # -- alleged acts and themes ---------------------------------------------------------
    "biolab": (("biolab", "bio-lab", "biological lab", "biological weapon", "bioweapon",
                "biological warfare", "biological research", "biological activit",
                "military biolog", "pathogen", "биолаборатор", "биологическ лаборатор",
                "биологическ оруж", "биологическ", "біолабораторі", "біологічн", "біозброю",
                "биооруж", "патоген"),
               ("生物实验室", "生物武器", "生物军事", "生物研究", "生物", "病原体", "实验室")),
    "chemical_weapons": (("chemical weapon", "chemical attack", "sarin", "chlorine",
                          "novichok", "poison", "химическ", "хімічн", "зарин", "хлор",
                          "новичок", "отравл", "отруєн"),
                         ("化学武器", "化武", "毒气", "沙林", "毒")),
    "dirty_bomb": (("dirty bomb", "radiological", "грязн бомб", "грязной бомб", "брудн бомб",
                    "брудної бомб", "грязная бомба"), ("脏弹",)),
    "nuclear": (("nuclear", "atomic", "ядерн", "атомн", "аэс", "аес"), ("核",)),
    "nazi": (("nazi", "neo-nazi", "neonazi", "fascis", "bandera", "denazif", "нацист",
              "неонацист", "фашист", "бандер", "денацификац", "денацифікац", "нацизм",
              "нацистськ"), ("纳粹", "法西斯", "新纳粹", "班德拉", "去纳粹化")),
    "genocide": (("genocide", "ethnic cleansing", "exterminat", "геноцид", "этническ чистк",
                  "етнічн чистк"), ("种族灭绝", "种族清洗")),
    "russophobia": (("russophob", "anti-russian", "hatred of russians", "русофоб",
                     "антироссийск", "антиросійськ"), ("恐俄", "反俄")),
    "mercenaries": (("mercenar", "foreign fighter", "foreign legion", "наемник", "наёмник",
                     "найманц", "найманець", "наймит", "иностранн легион", "іноземн легіон",
                     "wagner", "вагнер"), ("雇佣兵", "外国武装分子", "外籍战斗人员", "瓦格纳")),
    "staged": (("staged", "stage", "fake", "hoax", "provocation", "false flag", "fabricat",
                "set up", "crisis actor", "mannequin", "dummies", "extras", "манекен", "статист",
                "инсценир", "постановк", "провокац", "фейк",
                "інсценув", "інсцен", "постановочн", "актор", "фальсифик", "фальсифік"),
               ("摆拍", "假人", "自导自演", "伪造", "造假", "作假", "假视频", "假新闻", "挑衅",
                "演员", "捏造", "虚假", "嫁祸")),
    "shelling_own": (("shell", "shelling", "bombard", "strike", "attack", "обстрел",
                      "обстріл", "обстрелива", "обстрілю", "удар", "бомбард"),
                     ("炮击", "轰炸", "袭击", "打击")),
    "civilians": (("civilian", "peaceful resident", "residents", "мирн жител", "мирних жител",
                   "мирн мешканц", "мирних мешканц", "мирное населен", "мирне населен",
                   "цивільн", "мирных", "мирних"), ("平民", "居民")),
    "children": (("child", "children", "kids", "дети", "детей", "дітей", "діти", "ребен",
                  "дитин"), ("儿童", "孩子")),
    "refugees": (("refugee", "migrant", "беженц", "біженц", "мигрант", "мігрант"),
                 ("难民", "移民")),
    "weapons_supply": (("weapon", "arms", "himars", "javelin", "tank", "missile", "ammunition",
                        "military aid", "lend-lease", "оруж", "зброя", "зброї", "зброю",
                        "вооружен", "озброєн", "танк", "ракет", "снаряд", "боеприпас",
                        "хаймарс", "джавелин"), ("武器", "军援", "军事援助", "坦克", "导弹",
                                                 "弹药", "军火")),
    "arms_resale": (("resell", "resale", "black market", "перепрода", "черн рынок",
                     "чорн ринок", "чорному ринку", "черном рынке"), ("转卖", "黑市", "倒卖")),
    "sanctions": (("sanction", "embargo", "санкци", "санкці", "эмбарго", "ембарго"),
                  ("制裁", "禁运")),
    "food_crisis": (("food crisis", "grain", "wheat", "famine", "hunger", "food security",
                     "fertili", "продовольств", "зерн", "пшениц", "голод"),
                    ("粮食", "储备粮", "粮", "小麦", "饥荒", "化肥", "谷物")),
    "energy": (("gas", "energy", "oil", "nord stream", "pipeline", "газ", "нефт", "нафт",
                "энерг", "енерг", "северн поток", "північн потік", "трубопровод"),
               ("天然气", "能源", "石油", "北溪", "管道")),
    "economy_collapse": (("collapse", "crisis", "inflation", "recession", "bankrupt",
                          "коллапс", "крах", "кризис", "криз", "инфляц", "інфляц", "банкрот",
                          "дефолт", "default"), ("崩溃", "危机", "通胀", "衰退", "破产")),
    "coup": (("coup", "maidan", "euromaidan", "colour revolution", "color revolution",
              "regime change", "переворот", "майдан", "цветн революц", "кольоров революц"),
             ("政变", "颜色革命", "广场革命", "迈丹")),
    "civil_war": (("civil war", "гражданск войн", "громадянськ війн"), ("内战",)),
    "puppet": (("puppet", "external control", "external governance", "colony", "vassal",
                "марионет", "маріонет", "внешн управлен", "зовнішн управлін", "колони",
                "вассал"), ("傀儡", "殖民地", "附庸")),
    "expansion": (("expansion", "enlargement", "encircle", "eastward", "расширен",
                   "розширен", "окружен", "оточен"), ("东扩", "扩张", "包围")),
    "bases": (("military base", "bases", "troops deploy", "военн баз", "військов баз",
               "базы", "бази"), ("军事基地", "基地", "驻军")),
    "invasion": (("invade", "invasion", "aggression", "attack on russia", "вторжен",
                  "вторгн", "вторгнен", "агресс", "агрес", "напад"),
                 ("入侵", "侵略", "进攻")),
    "annexation": (("annex", "partition", "occupy", "occupation", "territorial claim",
                    "аннекс", "анекс", "раздел", "поділ", "оккупац", "окупац",
                    "присоедин", "приєднан"), ("吞并", "瓜分", "占领", "兼并")),
    "special_operation": (("special military operation", "special operation",
                           "специальн военн операц", "спецоперац", "спеціальн військов",
                           "сво"), ("特别军事行动",)),
    "war_crimes": (("war crime", "atrocit", "massacre", "torture", "execution", "shot",
                    "военн преступлен", "воєнн злочин", "зверств", "расстрел", "розстріл",
                    "пытк", "катуван", "масов убийств", "убийств", "вбивств"),
                   ("战争罪", "暴行", "屠杀", "酷刑", "枪杀", "处决")),
    "human_shields": (("human shield", "живой щит", "живий щит", "живым щитом",
                       "живим щитом"), ("人盾", "人肉盾牌")),
    "organ_trade": (("organ trade", "organs", "organ harvesting", "трансплант", "органы",
                     "органів", "органов", "органи", "органа"), ("器官", "内脏")),
    "corruption": (("corrupt", "embezzl", "steal", "коррупц", "корупц", "украл", "вкрал",
                    "хищен", "розкрадан"), ("腐败", "贪污", "挪用")),
    "drugs": (("drug", "cocaine", "addict", "наркот", "кокаин", "кокаїн", "наркоман"),
              ("毒品", "可卡因", "吸毒")),
    "whereabouts": (("fled", "escaped", "left kyiv", "left the country", "bunker", "hiding",
                     "abroad", "сбежал", "сбежа", "бежал", "втік", "утік", "втекл", "втеч",
                     "бункер", "прячется", "ховається", "покинул", "покинув"),
                    ("逃离", "逃跑", "出逃", "藏身", "离开基辅", "离开该国", "离开乌克兰", "流亡")),
    "election": (("election", "vote", "referendum", "выбор", "вибор", "референдум",
                  "голосован"), ("选举", "公投", "投票")),
    "protest": (("protest", "rally", "riot", "протест", "митинг", "мітинг", "бунт"),
                ("抗议", "示威", "骚乱")),
    "church": (("church", "orthodox", "patriarch", "церк", "православ", "патриарх",
                "патріарх", "лавр"), ("教会", "东正教", "牧首")),
    "language_ban": (("russian language", "russian-speaking", "русск язык", "русскоязычн",
                      "російськ мов", "російськомовн", "язык", "мова", "мову"),
                     ("俄语", "讲俄语")),
    "covid": (("covid", "coronavirus", "pandemic", "vaccin", "коронавирус", "коронавірус",
               "пандеми", "пандемі", "вакцин", "ковид", "ковід"),
              ("新冠", "冠状病毒", "疫情", "疫苗", "大流行")),
    "migration_crisis": (("migration crisis", "migrants", "мигрант", "мігрант"),
                         ("移民危机",)),
    "lgbt": (("lgbt", "gay", "homosex", "gender", "лгбт", "гей", "гомосекс", "гендер"),
             ("同性恋", "性别")),
    "hacker": (("hack", "cyber", "хакер", "кибер", "кібер"), ("黑客", "网络攻击")),
    "secret_plan": (("secret", "plan", "plot", "conspir", "секретн", "план", "заговор",
                     "змов"), ("秘密", "计划", "阴谋")),
    "provocation_nuclear_plant": (("nuclear power plant", "npp", "аэс", "аес"),
                                  ("核电站",)),
    "dam": (("dam", "kakhovka", "дамб", "плотин", "греблі", "гребл", "каховк"),
            ("大坝", "水坝", "卡霍夫卡")),
    "hospital": (("hospital", "maternity", "theatre", "theater", "больниц", "лікарн",
                  "роддом", "пологов", "театр"), ("医院", "妇产", "剧院")),
    "mobilization": (("mobiliz", "mobilis", "conscript", "draft", "мобилизац", "мобілізац",
                      "призыв", "призов"), ("动员", "征兵")),
    "losses": (("losses", "casualties", "killed", "dead", "потер", "втрат", "погиб",
                "загинул", "убит", "вбит"), ("伤亡", "死亡", "损失", "阵亡")),
    "media_lies": (("propaganda", "disinformation", "media lies", "censorship",
                    "пропаганд", "дезинформ", "дезінформ", "цензур"),
                   ("宣传", "虚假信息", "谣言", "审查")),
}

# Concepts too broad to anchor a match alone get a smaller weight in BM25.
BROAD = frozenset({"usa", "russia", "ukraine", "west", "europe", "shelling_own", "secret_plan",
                   "economy_collapse", "losses", "staged", "media_lies", "weapons_supply",
                   "civilians", "invasion", "annexation", "war_crimes", "language_ban"})

_WORD = re.compile(r"\w+")
_ONE_CHAR_OK = frozenset("粮核")  # single characters specific enough to mark a concept
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class _Tables:
    prefix: dict[str, frozenset[str]]  # one-word stems matched at a word start
    exact: dict[str, frozenset[str]]  # short one-word stems matched as whole words
    multi: dict[str, list[tuple[tuple[str, ...], bool, str]]]  # first part -> phrases
    hanzi: list[tuple[str, str]]
    prefix_lengths: tuple[int, ...]
    multi_lengths: tuple[int, ...]


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    prefix: dict[str, set[str]] = {}
    exact: dict[str, set[str]] = {}
    multi: dict[str, list[tuple[tuple[str, ...], bool, str]]] = {}
    hanzi: list[tuple[str, str]] = []
    for name, (stems, chinese) in CONCEPTS.items():
        for stem in stems:
            parts = tuple(_WORD.findall(stem.lower()))
            whole = len(stem) <= 3
            if len(parts) == 1:
                (exact if whole else prefix).setdefault(parts[0], set()).add(name)
            elif parts:
                multi.setdefault(parts[0], []).append((parts, whole, name))
        hanzi.extend((h, name) for h in chinese if len(h) > 1 or h in _ONE_CHAR_OK)
    return _Tables({k: frozenset(v) for k, v in prefix.items()},
                   {k: frozenset(v) for k, v in exact.items()}, multi, hanzi,
                   tuple(sorted({len(k) for k in prefix})),
                   tuple(sorted({len(k) for k in multi})))


def _part_matches(word: str, part: str, whole: bool, last: bool) -> bool:
    if whole or not last:
        return word == part or (not whole and word.startswith(part))
    return word.startswith(part)


@lru_cache(maxsize=200_000)
def _word_hits(word: str) -> tuple[frozenset[str], tuple[tuple[tuple[str, ...], bool, str], ...]]:
    """Concepts one word names alone, and the multi-word stems it may start (cached)."""
    tables = _tables()
    found: set[str] = set(tables.exact.get(word, ()))
    for length in tables.prefix_lengths:
        if length > len(word):
            break
        found.update(tables.prefix.get(word[:length], ()))
    starts: list[tuple[tuple[str, ...], bool, str]] = []
    for length in tables.multi_lengths:
        if length > len(word):
            break
        starts.extend(m for m in tables.multi.get(word[:length], ())
                      if length == len(word) or not m[1])
    return frozenset(found), tuple(starts)


def concepts_in(text: str) -> list[str]:
    """Concept ids mentioned in `text` (each once, in lexicon order)."""
    return list(_concepts_of(text))


@lru_cache(maxsize=65_536)  # a fact-check is re-read for every match it explains
def _concepts_of(text: str) -> tuple[str, ...]:
    tables = _tables()
    found: set[str] = set()
    words = _WORD.findall(text.lower())
    for i, word in enumerate(words):
        alone, starts = _word_hits(word)
        found.update(alone)
        for parts, whole, name in starts:
            if i + len(parts) > len(words):
                continue
            if all(_part_matches(words[i + j], parts[j], whole, j == len(parts) - 1)
                   or words[i + j].startswith(parts[j])
                   for j in range(1, len(parts))):
                found.add(name)
    if _CJK.search(text):
        found.update(name for h, name in tables.hanzi if h in text)
    return tuple(name for name in CONCEPTS if name in found)
