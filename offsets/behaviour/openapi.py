"""The OpenAPI 3.1 description of the platforms' reporting API (offsets/behaviour/api.py), served as JSON."""

from django.urls import reverse

from offsets.behaviour.models import BatchStatus, RejectReason

BATCH_ID = {
    "name": "batch_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
}
PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def description(request) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Carbon inclusion registry: behaviour records reporting API",
            "version": "1",
            "description": (
                "Platform operators send batches of their users' low-carbon behaviour records. A batch is"
                " a gzip-compressed file: CSV with the header "
                "`record_id,person,scenario,started_at,ended_at,quantity` or JSON lines with the same "
                "keys, one record per line, no line breaks inside a field. `person` is a personal carbon "
                "account number (CA and ten digits) or the platform's own pseudonym of the user; times "
                "are ISO 8601 with their UTC offset, at most ±14:00 (`ended_at` may be empty for an "
                "order); `quantity` is"
                " in the scenario's unit with at most three decimals. Sending the same batch id with the "
                "same content again changes nothing; with other content it is refused (409). Rows are "
                "checked, de-duplicated (within the platform by record id; across platforms by person, "
                "scenario and overlapping time) and quantified in grams by workers; the status says when "
                "the batch is done, and the rejected rows, with their reasons, can be downloaded."
            ),
        },
        "servers": [{"url": request.build_absolute_uri("/")[:-1]}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "whb_<key>_<secret>, issued by the registry administrator",
                }
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}},
                    "required": ["detail"],
                },
                "Batch": {
                    "type": "object",
                    "properties": {
                        "batch_id": {"type": "string"},
                        "status": {"type": "string", "enum": BatchStatus.values},
                        "format": {"type": "string", "enum": ["csv", "jsonl"]},
                        "received_at": {"type": "string", "format": "date-time"},
                        "finished_at": {"type": ["string", "null"], "format": "date-time"},
                        "rows": {"type": "integer"},
                        "accepted": {"type": "integer"},
                        "rejected": {"type": "integer"},
                        "grams": {"type": "integer", "description": "accepted reductions, grams of CO2e"},
                        "sha256": {"type": "string"},
                        "chunks": {"type": "integer"},
                        "chunks_done": {"type": "integer"},
                        "failed_lines": {
                            "type": "array",
                            "description": (
                                "status failed: the lines of the file whose records were not counted, as "
                                "[first, last] (last null: to the end); send them again under a new batch id"
                            ),
                            "items": {
                                "type": "array",
                                "items": {"type": ["integer", "null"]},
                                "minItems": 2,
                                "maxItems": 2,
                            },
                        },
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            reverse("behaviour:api_batch", args=["{batch_id}"]).replace("%7B", "{").replace("%7D", "}"): {
                "parameters": [BATCH_ID],
                "put": {
                    "summary": "Send a batch",
                    "parameters": [
                        {
                            "name": "Content-Encoding",
                            "in": "header",
                            "required": True,
                            "schema": {"const": "gzip"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "text/csv": {"schema": {"type": "string", "format": "binary"}},
                            "application/jsonl": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Received; processing",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}
                            },
                        },
                        "200": {
                            "description": "Seen before with the same content: nothing changed",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}
                            },
                        },
                        "400": {
                            "description": "Not gzip, wrong header or bad batch id: nothing kept",
                            "content": PROBLEM,
                        },
                        "401": {"description": "No valid key", "content": PROBLEM},
                        "409": {"description": "The id was used for other content", "content": PROBLEM},
                        "413": {"description": "More rows than a batch may have", "content": PROBLEM},
                        "415": {
                            "description": "Not CSV or JSON lines, or not gzip-encoded",
                            "content": PROBLEM,
                        },
                        "422": {"description": "No rows", "content": PROBLEM},
                    },
                },
                "get": {
                    "summary": "A batch's status",
                    "responses": {
                        "200": {
                            "description": "The batch",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}
                            },
                        },
                        "404": {"description": "No batch of this platform has this id", "content": PROBLEM},
                    },
                },
            },
            reverse("behaviour:api_rejected", args=["{batch_id}"]).replace("%7B", "{").replace("%7D", "}"): {
                "parameters": [BATCH_ID],
                "get": {
                    "summary": "The batch's rejected rows with their reasons",
                    "responses": {
                        "200": {
                            "description": "CSV: line,record_id,reason,explanation. Reasons: "
                            + "; ".join(f"{code}: {label}" for code, label in RejectReason.choices),
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        },
                        "404": {"description": "No batch of this platform has this id", "content": PROBLEM},
                    },
                },
            },
        },
    }
