"""The vehicle types the edge's Thai reader sends in ``vehicle_type`` (docs/vision.md "Vehicle type").

The field itself stays free text on the wire (≤ 64 characters): another sender's value is stored
and shown as it came. These are the values this project's edge sends, and the dashboard names them.
"""

from __future__ import annotations

from enum import StrEnum


class VehicleType(StrEnum):
    """What a Thai plate's format and colours say about the vehicle; "" (not a member) when unsure."""

    PRIVATE = "private"  # white plate, black characters: a car
    VAN = "van"  # white plate, blue characters: a van over seven seats
    PICKUP = "pickup"  # white plate, green characters: a private truck
    TAXI = "taxi"  # yellow plate: a vehicle for hire
    COMMERCIAL = "commercial"  # six digits: trucks, buses, vans for hire
    MOTORCYCLE = "motorcycle"  # three rows: series, province, number
