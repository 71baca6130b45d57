"""``search serve``: the JSON API's answers, its errors, and 50 clients at once."""
from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from search.query import Searcher
from search.server import make_server
from tests.search_support import sample_index_root, shared_embedder

QUERIES = ["感受野怎么计算", "how do I train on several GPUs", "随机森林为什么要随机选特征", "what is the bias term for",
           "扩散模型和随机微分方程", "online softmax tiled attention", "自监督学习的定义", "gumbel softmax trick",
           "怎么用两个进程做数据并行", "xgboost second order"]


@pytest.fixture(scope="module")
def searcher():
    return Searcher(sample_index_root(), shared_embedder())


@pytest.fixture(scope="module")
def server(searcher, tmp_path_factory):
    site = tmp_path_factory.mktemp("html")
    (site / "index.html").write_text("<h1>知识库</h1>", encoding="utf-8")
    srv = make_server(searcher, site, port=0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def get(port: int, target: str | bytes, timeout: float = 60.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(target, bytes):  # a raw request line, bytes as sent
            conn.putrequest("GET", "/", skip_host=True)
            conn._buffer[0] = b"GET " + target + b" HTTP/1.1"
            conn.putheader("Host", "127.0.0.1")
            conn.endheaders()
        else:
            conn.request("GET", target)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def test_search_returns_the_same_objects_as_query_json(server, searcher):
    status, ctype, body = get(server, "/api/search?q=" + quote("感受野怎么计算") + "&k=3")
    assert status == 200 and ctype.startswith("application/json")
    results = json.loads(body)
    assert results == [r.to_json() for r in searcher.search("感受野怎么计算", 3)]
    assert results[0]["slug"] == "receptive-field" and len(results) == 3


def test_healthz_reports_the_model(server):
    status, _, body = get(server, "/healthz")
    info = json.loads(body)
    assert status == 200 and info["status"] == "ok" and info["model"] == shared_embedder().name
    assert info["query_engine"] == "numpy"  # the bundled model never needs torch to answer


@pytest.mark.parametrize("target,fragment", [
    ("/api/search", "empty"),
    ("/api/search?q=", "empty"),
    ("/api/search?q=%20%20", "empty"),
    ("/api/search?q=" + "a" * 1001, "limit"),
    ("/api/search?q=ok&k=0", "k must"),
    ("/api/search?q=ok&k=51", "k must"),
    ("/api/search?q=ok&k=abc", "k must"),
    ("/api/search?q=ok&k=-1", "k must"),
    ("/api/search?q=%FF%FE", "UTF-8"),
    (b"/api/search?q=\xff\xfe", "UTF-8"),
])
def test_bad_requests_get_a_4xx_with_a_json_error(server, target, fragment):
    status, ctype, body = get(server, target)
    assert 400 <= status < 500 and ctype.startswith("application/json")
    assert fragment in json.loads(body)["error"]


def test_unknown_api_path_is_a_json_404(server):
    status, _, body = get(server, "/api/nothing")
    assert status == 404 and "error" in json.loads(body)


def test_the_built_site_is_served(server):
    status, _, body = get(server, "/")
    assert status == 200 and "知识库" in body.decode("utf-8")


def test_fifty_concurrent_clients_all_get_correct_results(server, searcher):
    expected = {q: [r.to_json() for r in searcher.search(q, 5)] for q in QUERIES}
    jobs = [QUERIES[i % len(QUERIES)] for i in range(50)]
    barrier = threading.Barrier(50)

    def client(q):
        barrier.wait(timeout=60)  # all 50 connect at the same moment
        status, _, body = get(server, "/api/search?q=" + quote(q) + "&k=5", timeout=120)
        return q, status, json.loads(body)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(client, jobs))
    assert len(answers) == 50
    for q, status, body in answers:
        assert status == 200 and body == expected[q], q
