"""What the benchmarks share: the guard that keeps them off real databases, creating the bench
database, and the PV methodology they fill their projects under."""

import sys
from datetime import date


def bench_database(suffix: str | tuple[str, ...]) -> dict:
    """The default database's settings; exits unless it is a PostgreSQL database named *<suffix> (or
    one of the suffixes)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    name = str(db.get("NAME") or "")
    suffixes = (suffix,) if isinstance(suffix, str) else suffix
    if "postgresql" not in db["ENGINE"] or not name.endswith(suffixes):
        sys.exit(
            f"Refusing to run: the database is {db['ENGINE']} {name!r}. This benchmark fills and truncates "
            f"tables; set DATABASE_URL to a PostgreSQL database whose name ends in {' or '.join(suffixes)}."
        )
    return db


def ensure_database(db: dict) -> None:
    """CREATE DATABASE through the maintenance database `postgres` if the bench database is missing."""
    import psycopg
    from psycopg import sql

    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
            print(f"Created database {db['NAME']}.")


def bench_methodology():
    """Like tests/factories.make_pv_methodology."""
    from decimal import Decimal

    from registry.models import DocumentType, FactorScope, Methodology, Sector

    methodology, _ = Methodology.objects.get_or_create(
        code="PV",
        version="1.0",
        defaults={
            "title_zh": "分布式光伏",
            "title_en": "Distributed PV",
            "sector": Sector.ENERGY,
            "effective_date": date(2023, 11, 30),
            "calculator": "pv",
            "factor_scope": FactorScope.NATIONAL,
            "max_point_capacity_kw": Decimal("6000"),
            "project_documents": [
                DocumentType.PROJECT_DESCRIPTION,
                DocumentType.GRID_CONNECTION_ACCEPTANCE,
            ],
            "declaration_documents": [DocumentType.MONITORING_REPORT, DocumentType.VERIFICATION_REPORT],
        },
    )
    return methodology
