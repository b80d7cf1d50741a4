"""The masthead's weather line, from Open-Meteo (no key needed)."""

from __future__ import annotations

from typing import Any

import httpx

from emails.errors import SourceError
from pipeline.sources.http import QueryParams, get_json
from pipeline.sources.items import Gathering, WeatherReport

# WMO weather interpretation codes (table 4677) as Open-Meteo documents them.
WMO_CONDITIONS: dict[int, str] = {
    0: "Clear sky",
    1: "Mainly clear",
    2: "Partly cloudy",
    3: "Overcast",
    45: "Fog",
    48: "Fog",
    51: "Light drizzle",
    53: "Moderate drizzle",
    55: "Dense drizzle",
    56: "Light freezing drizzle",
    57: "Freezing drizzle",
    61: "Light rain",
    63: "Moderate rain",
    65: "Heavy rain",
    66: "Light freezing rain",
    67: "Freezing rain",
    71: "Light snow",
    73: "Moderate snow",
    75: "Heavy snow",
    77: "Snow grains",
    80: "Light showers",
    81: "Rain showers",
    82: "Heavy showers",
    85: "Light snow showers",
    86: "Heavy snow showers",
    95: "Thunderstorm",
    96: "Thunderstorm with hail",
    99: "Thunderstorm with heavy hail",
}


def condition_for(code: int) -> str:
    """Words for a WMO code; an unlisted code is admitted, not guessed at."""
    return WMO_CONDITIONS.get(code, f"Weather code {code}")


class OpenMeteoWeather:
    """Current temperature and conditions for the newsletter's city."""

    name = "open-meteo"

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        city: str,
        latitude: float,
        longitude: float,
        timezone: str,
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self.city = city
        self._latitude = latitude
        self._longitude = longitude
        self._timezone = timezone

    def fetch(self) -> Gathering:
        params: QueryParams = {
            "latitude": self._latitude,
            "longitude": self._longitude,
            "current": "temperature_2m,weather_code,is_day",
            "timezone": self._timezone,
        }
        # Open-Meteo explains a bad request in the body of its 400, so that status is read.
        status, body = get_json(
            self._client,
            f"{self._base_url}/v1/forecast",
            params=params,
            accept_status=frozenset({400}),
        )
        if status == 400:
            raise SourceError(f"Open-Meteo refused the request: {_reason(body)}")
        return Gathering(weather=self._report(body))

    def _report(self, body: Any) -> WeatherReport:
        current = body.get("current") if isinstance(body, dict) else None
        if not isinstance(current, dict):
            raise SourceError("Open-Meteo answer has no 'current' block")
        temperature = _number(current.get("temperature_2m"))
        code = current.get("weather_code")
        if temperature is None or not isinstance(code, int) or isinstance(code, bool):
            raise SourceError("Open-Meteo answer lacks temperature_2m or weather_code")
        return WeatherReport(
            city=self.city, temperature_c=temperature, condition=condition_for(code)
        )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _reason(body: Any) -> str:
    reason = body.get("reason") if isinstance(body, dict) else None
    return " ".join(str(reason).split()) if reason else "no reason given"
