#!/usr/bin/env python3
"""Writes the GeoIP test database the integration tests load with --geoip-db.

    tests/.venv/bin/python scripts/gen-geoip-fixtures.py OUT_DIR

Run by tests/geo.rs into a temporary directory (nothing here is committed as a database). It
writes OUT_DIR/edgegate-test-city.mmdb, a GeoIP2-City-shaped IPv6 database made with the
`mmdb-writer` package, and prints one JSON object:

    {"city": "<that file>", "geolite2": "<the GeoLite2-City.mmdb shipped by maxminddb-geolite2>"}

The records mirror MaxMind's published test data where the reference lists it
(viewer-headers.md section 9.4), and map loopback addresses to chosen places so that tests can
connect directly from 127.0.0.1 or ::1. Other addresses reach the edge through
X-Forwarded-For from a trusted proxy (127.0.0.0/8 in the tests' config).
"""

import json
import os
import sys

import _maxminddb_geolite2
from mmdb_writer import MMDBWriter, MmdbF64, MmdbU16, MmdbU32
from netaddr import IPSet


def place(iso, en):
    return {"iso_code": iso, "names": {"en": en}}


def city(
    country,
    country_name,
    city_name=None,
    subdivisions=(),
    postal=None,
    lat=None,
    lon=None,
    tz=None,
    metro=None,
    registered=None,
    represented=None,
    asn=None,
):
    rec = {"country": place(country, country_name)}
    if registered:
        rec["registered_country"] = place(*registered)
    if represented:
        rec["represented_country"] = dict(place(*represented), type="military")
    if city_name:
        rec["city"] = {"names": {"en": city_name}}
    if subdivisions:
        rec["subdivisions"] = [place(code, name) for code, name in subdivisions]
    if postal:
        rec["postal"] = {"code": postal}
    loc = {}
    if lat is not None:
        loc["latitude"] = MmdbF64(lat)
        loc["longitude"] = MmdbF64(lon)
    if tz:
        loc["time_zone"] = tz
    if metro is not None:
        loc["metro_code"] = MmdbU16(metro)
    if loc:
        rec["location"] = loc
    if asn is not None:
        rec["traits"] = {"autonomous_system_number": MmdbU32(asn)}
    return rec


RECORDS = [
    # Loopback: the tests' own address.
    (
        "127.0.0.1/32",
        city(
            "SE",
            "Sweden",
            "Linköping",
            [("E", "Östergötland County")],
            lat=58.4167,
            lon=15.6167,
            tz="Europe/Stockholm",
        ),
    ),
    ("::1/128", city("JP", "Japan", "Tokyo", [("13", "Tokyo")], tz="Asia/Tokyo")),
    # As in MaxMind's test data (country differs from registered_country on purpose).
    (
        "216.160.83.56/29",
        city(
            "US",
            "United States",
            "Milton",
            [("WA", "Washington")],
            postal="98354",
            lat=47.2513,
            lon=-122.3149,
            tz="America/Los_Angeles",
            metro=819,
            registered=("GB", "United Kingdom"),
            asn=209,
        ),
    ),
    (
        "2.125.160.216/29",
        city(
            "GB",
            "United Kingdom",
            "Boxford",
            [("ENG", "England"), ("WBK", "West Berkshire")],
            postal="OX1",
            lat=51.75,
            lon=-1.25,
            tz="Europe/London",
            registered=("FR", "France"),
        ),
    ),
    (
        "81.2.69.160/27",
        city(
            "GB",
            "United Kingdom",
            "London",
            [("ENG", "England")],
            tz="Europe/London",
            registered=("US", "United States"),
        ),
    ),
    (
        "202.196.224.0/20",
        city(
            "PH",
            "Philippines",
            registered=("PH", "Philippines"),
            represented=("US", "United States"),
        ),
    ),
    # A record with no location at all.
    ("214.1.1.0/24", {"traits": {"is_anycast": True}}),
    ("2001:218::/32", city("JP", "Japan")),
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen-geoip-fixtures.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["en"],
        description="edgegate test data",
    )
    for network, record in RECORDS:
        writer.insert_network(IPSet([network]), record)
    path = os.path.join(out_dir, "edgegate-test-city.mmdb")
    writer.to_db_file(path)
    geolite2 = os.path.join(
        os.path.dirname(_maxminddb_geolite2.__file__), "GeoLite2-City.mmdb"
    )
    print(json.dumps({"city": path, "geolite2": geolite2}))


if __name__ == "__main__":
    main()
