"""The projects and the words of the search tests (tests/offsets/test_public_registry.py), shared with the
run on a fresh SQLite file: `python -m tests.offsets.short_word_search OUT.json` migrates it, makes the
projects and writes each word's titles as JSON, so both databases are held to the same answers."""

import json
import sys

# title, owner name (None: a fresh enterprise), owner kind
PROJECTS = [
    ("江岸区光伏车棚项目", "武汉绿能科技有限公司", "enterprise"),
    ("汉阳光谷屋顶光伏", None, "enterprise"),
    ("柏泉村户用屋顶", "刘建国", "household"),
    ("江夏物流园区储能", None, "enterprise"),
    ("ABC储能站", None, "enterprise"),
    ("100%绿色电力", None, "enterprise"),
]

# word → the titles it finds (by title, code or an organisation owner's name; never a person's name)
EXPECTED = {
    "光伏": ["汉阳光谷屋顶光伏", "江岸区光伏车棚项目"],
    "江岸": ["江岸区光伏车棚项目"],
    "光": ["汉阳光谷屋顶光伏", "江岸区光伏车棚项目"],
    "柏": ["柏泉村户用屋顶"],
    "屋顶": ["柏泉村户用屋顶", "汉阳光谷屋顶光伏"],
    "储能": ["ABC储能站", "江夏物流园区储能"],
    "ab": ["ABC储能站"],
    "bC": ["ABC储能站"],
    "绿能": ["江岸区光伏车棚项目"],  # the owner's name
    "绿": ["100%绿色电力", "江岸区光伏车棚项目"],
    "刘建": [],  # a person's name is never searched
    "刘": [],
    "%": ["100%绿色电力"],
    "_": [],
    "%绿": ["100%绿色电力"],
    "光谷屋顶": ["汉阳光谷屋顶光伏"],
    "无此词": [],
    "无": [],
    "wh": sorted(title for title, _owner, _kind in PROJECTS),  # every code starts WH-
}


def make_projects() -> None:
    from tests.factories import file_project, identity_number, make_organisation, make_project, reviewers

    people = reviewers()
    for title, owner, kind in PROJECTS:
        if kind == "household":
            organisation = make_organisation(kind="household", name=owner, identifier=identity_number())
        else:
            organisation = make_organisation(**({"name": owner} if owner else {}))
        file_project(make_project(organisation, title=title), people)


def found(word: str) -> list[str]:
    from offsets import public

    return sorted(p.title for p in public.search(public.filed_projects(), word))


def main(out: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    make_projects()
    with open(out, "w", encoding="utf-8") as f:
        json.dump({word: found(word) for word in EXPECTED}, f, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
