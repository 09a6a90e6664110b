"""Realistic demo customers and events for the "Demo shop" project (deterministic per seed)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FIRST_NAMES = [
    "Anna",
    "Peter",
    "Lucia",
    "Martin",
    "Eva",
    "Tomas",
    "Jana",
    "Michal",
    "Zuzana",
    "Juraj",
    "Sofia",
    "Lukas",
    "Katarina",
    "Marek",
    "Ema",
    "Filip",
    "Nina",
    "Adam",
    "Laura",
    "David",
    "Olivia",
    "Noah",
    "Mia",
    "Liam",
    "Emma",
    "Oliver",
    "Ava",
    "Elias",
    "Hannah",
    "Jakub",
]
LAST_NAMES = [
    "Novak",
    "Horvath",
    "Kovac",
    "Varga",
    "Toth",
    "Nagy",
    "Balaz",
    "Molnar",
    "Szabo",
    "Kral",
    "Smith",
    "Muller",
    "Schmidt",
    "Fischer",
    "Weber",
    "Rossi",
    "Bianchi",
    "Garcia",
    "Martin",
    "Bernard",
    "Dubois",
    "Jansen",
    "Novotny",
    "Dvorak",
    "Cerny",
    "Prochazka",
    "Kucera",
]
CITIES = [
    ("Bratislava", "SK"),
    ("Kosice", "SK"),
    ("Prague", "CZ"),
    ("Brno", "CZ"),
    ("Vienna", "AT"),
    ("Berlin", "DE"),
    ("Munich", "DE"),
    ("Budapest", "HU"),
    ("Warsaw", "PL"),
    ("Krakow", "PL"),
    ("Amsterdam", "NL"),
    ("Paris", "FR"),
    ("Milan", "IT"),
    ("Madrid", "ES"),
    ("London", "GB"),
]
STREETS = [
    "Main St",
    "Hlavna",
    "Park Ave",
    "Lindenstrasse",
    "Rue Victor Hugo",
    "Via Roma",
    "Oak Lane",
]
PLANS = ["free", "basic", "premium", "business"]
PAGES = [
    "/",
    "/sale",
    "/new",
    "/shoes",
    "/jackets",
    "/bags",
    "/cart",
    "/checkout",
    "/account",
    "/blog",
]
PRODUCTS = [
    ("Running shoes", 89.0),
    ("Rain jacket", 129.0),
    ("Backpack", 59.0),
    ("T-shirt", 19.0),
    ("Sneakers", 99.0),
    ("Wool hat", 24.0),
    ("Leather belt", 35.0),
    ("Sunglasses", 79.0),
]
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge"]
YEAR = 365 * 24 * 3600


@dataclass
class DemoCustomer:
    ids: dict[str, str]
    properties: dict[str, Any]
    events: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    extra_cookies: list[str] = field(default_factory=list)


def demo_customers(count: int, *, now: float, seed: int = 2026) -> Iterator[DemoCustomer]:
    """Yield ``count`` customers; customer ``i`` is always the same person for the same seed."""
    rng = random.Random(seed)
    for i in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, country = rng.choice(CITIES)
        email = f"{first}.{last}.{i}@example.com".lower()
        created = now - rng.uniform(0.05, 1.0) * YEAR
        cookies = [
            f"ck-{seed}-{i}-{n}-{rng.getrandbits(40):010x}" for n in range(rng.choice([1, 1, 2]))
        ]
        ids = {"registered": email, "cookie": cookies[0]}
        properties = {
            "email": email,
            "phone": f"+421 9{rng.randint(0, 99):02d} {rng.randint(100, 999)} {rng.randint(100, 999)}",
            "first_name": first,
            "last_name": last,
            "birth_date": f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "city": city,
            "country": country,
            "plan": rng.choice(PLANS),
            "newsletter": rng.random() < 0.55,
            "lifetime_value": 0.0,
        }
        customer = DemoCustomer(ids=ids, properties=properties)
        ip = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        total_spent = 0.0
        for _session in range(rng.randint(1, 6)):
            start = rng.uniform(created, now - 60)
            customer.events.append(
                (
                    "session_start",
                    start,
                    {"browser": rng.choice(BROWSERS), "cookie_index": rng.randrange(len(cookies))},
                )
            )
            t = start
            for _ in range(rng.randint(1, 5)):
                t += rng.uniform(5, 120)
                customer.events.append(
                    (
                        "page_visit",
                        t,
                        {"url": "https://shop.example.com" + rng.choice(PAGES), "ip": ip},
                    )
                )
            if rng.random() < 0.35:
                picked = rng.sample(PRODUCTS, rng.randint(1, 3))
                total = round(sum(price for _, price in picked), 2)
                total_spent += total
                customer.events.append(
                    (
                        "purchase",
                        t + rng.uniform(10, 300),
                        {
                            "total": total,
                            "currency": "EUR",
                            "items": [name for name, _ in picked],
                            "shipping_address": f"{rng.randint(1, 120)} {rng.choice(STREETS)}, {city}",
                            "card_last4": f"{rng.randint(0, 9999):04d}",
                        },
                    )
                )
        properties["lifetime_value"] = round(total_spent, 2)
        customer.extra_cookies = cookies[1:]
        yield customer
