from starlette.testclient import TestClient

from web.migrate import head_revision


def test_healthz_says_the_process_is_alive(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_and_schema_at_head(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["schema"] == head_revision() == body["head"]


def test_readyz_is_unavailable_when_schema_is_behind(client: TestClient) -> None:
    async_pool = client.app.state.pool  # type: ignore[attr-defined]
    client.portal.call(async_pool.execute, "UPDATE alembic_version SET version_num = '0001'")  # type: ignore[union-attr]
    if head_revision() == "0001":
        client.portal.call(async_pool.execute, "DELETE FROM alembic_version")  # type: ignore[union-attr]
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "scrutin migrate" in response.json()["detail"]
