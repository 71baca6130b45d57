"""``search serve``: the JSON API's answers, its errors, HEAD and POST, a missing site, and 50 clients at once.

Two kinds of server: one over the real model and the sample articles (answers
must equal ``query --json``; concurrency), and one over a tiny index built with
the fake embedder, for everything about HTTP itself, which needs no model and
so does not wait for the sample index. Every server binds port 0 itself and is
listening before its fixture yields (``tests.search_support.running_server``).
"""
from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from search.index import build_index
from search.query import Searcher
from tests.search_support import FakeEmbedder, make_article, running_server, sample_index_root, shared_embedder

QUERIES = ["感受野怎么计算", "how do I train on several GPUs", "随机森林为什么要随机选特征", "what is the bias term for",
           "扩散模型和随机微分方程", "online softmax tiled attention", "自监督学习的定义", "gumbel softmax trick",
           "怎么用两个进程做数据并行", "xgboost second order"]
STATIC_JS = b"console.log('kb');\n"


# ------------------------------------------------------------------ servers
@pytest.fixture(scope="module")
def searcher():
    return Searcher(sample_index_root(), shared_embedder())


@pytest.fixture(scope="module")
def server(searcher, tmp_path_factory):
    """The real model over the sample articles."""
    site = tmp_path_factory.mktemp("html")
    (site / "index.html").write_text("<h1>知识库</h1>", encoding="utf-8")
    with running_server(searcher, site) as port:
        yield port


@pytest.fixture(scope="module")
def fake_searcher(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake-index")
    build_index(root, [
        make_article("forest", "随机森林", "Random forests", "有放回采样并随机选择特征，训练很多棵决策树再投票。"),
        make_article("ddp", "分布式数据并行", "Distributed data parallel", "多张显卡上各启动一个进程，梯度通过 all-reduce 同步。"),
        make_article("rf", "感受野的计算", "Computing the receptive field", "感受野是一个输出单元看到的输入区域。"),
    ], FakeEmbedder())
    return Searcher(root, FakeEmbedder())


@pytest.fixture(scope="module")
def fake_server(fake_searcher, tmp_path_factory):
    """HTTP behaviour without the model: a three-article index and a site with a page and a script."""
    site = tmp_path_factory.mktemp("fake-html")
    (site / "index.html").write_text("<h1>知识库</h1>", encoding="utf-8")
    (site / "_static").mkdir()
    (site / "_static" / "app.js").write_bytes(STATIC_JS)
    with running_server(fake_searcher, site) as port:
        yield port


@pytest.fixture(scope="module")
def unbuilt_server(fake_searcher, tmp_path_factory):
    """A server whose site folder does not exist (the book was never built)."""
    with running_server(fake_searcher, tmp_path_factory.mktemp("no-site") / "html") as port:
        yield port


# ------------------------------------------------------------------ clients
def request(port: int, method: str, target: str | bytes, body: bytes | None = None, timeout: float = 60.0):
    """(status, headers as a dict with lower-case names, body) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(target, bytes):  # a raw request line, bytes as sent
            conn.putrequest(method, "/", skip_host=True)
            conn._buffer[0] = method.encode() + b" " + target + b" HTTP/1.1"
            conn.putheader("Host", "127.0.0.1")
            conn.endheaders()
        else:
            conn.request(method, target, body=body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get(port: int, target: str | bytes, timeout: float = 60.0):
    status, headers, body = request(port, "GET", target, timeout=timeout)
    return status, headers.get("content-type", ""), body


def raw_exchange(port: int, data: bytes, timeout: float = 30.0) -> bytes:
    """Send bytes as they are and read everything the server writes until it closes (or goes quiet).

    http.client never reads a body after HEAD and never sees a second,
    unrequested response; reading the socket does.
    """
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        try:
            while chunk := s.recv(65536):
                out.append(chunk)
        except TimeoutError:
            pass  # the server kept the connection open: what came so far is the answer
    return b"".join(out)


def head_raw(port: int, target: str) -> tuple[bytes, bytes]:
    """(status line and headers, whatever followed them) of a HEAD on a connection the client closes."""
    resp = raw_exchange(port, f"HEAD {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    head, sep, rest = resp.partition(b"\r\n\r\n")
    assert sep, resp
    return head, rest


# ------------------------------------------------------- the real model
@pytest.mark.slow  # the embedding model
def test_search_returns_the_same_objects_as_query_json(server, searcher):
    status, ctype, body = get(server, "/api/search?q=" + quote("感受野怎么计算") + "&k=3")
    assert status == 200 and ctype.startswith("application/json")
    results = json.loads(body)
    assert results == [r.to_json() for r in searcher.search("感受野怎么计算", 3)]
    assert results[0]["slug"] == "receptive-field" and len(results) == 3


@pytest.mark.slow  # the embedding model
def test_answer_says_whether_an_article_covers_the_query_around_the_same_results(server, searcher):
    for q, covered in (("感受野怎么计算", True), ("how to bake sourdough bread at home", False)):
        status, _, body = get(server, "/api/answer?q=" + quote(q) + "&k=3")
        answer = json.loads(body)
        assert status == 200 and answer == searcher.answer(q, 3).to_json()
        assert answer["covered"] is covered and 0 <= answer["relevance"] <= 1
        # The nearest articles are still listed, exactly those /api/search returns.
        assert answer["results"] == json.loads(get(server, "/api/search?q=" + quote(q) + "&k=3")[2])


@pytest.mark.slow  # the embedding model
def test_healthz_reports_the_model(server):
    status, _, body = get(server, "/healthz")
    info = json.loads(body)
    assert status == 200 and info["status"] == "ok" and info["model"] == shared_embedder().name
    assert info["hybrid"] is True


@pytest.mark.slow  # the embedding model
def test_fifty_concurrent_clients_all_get_correct_results(server, searcher):
    expected = {q: [r.to_json() for r in searcher.search(q, 5)] for q in QUERIES}
    jobs = [QUERIES[i % len(QUERIES)] for i in range(50)]
    barrier = threading.Barrier(50)

    def client(q):
        barrier.wait(timeout=120)  # all 50 connect at the same moment
        status, _, body = get(server, "/api/search?q=" + quote(q) + "&k=5", timeout=300)
        return q, status, json.loads(body)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(client, jobs))
    assert len(answers) == 50
    for q, status, body in answers:
        assert status == 200 and body == expected[q], q


# ------------------------------------------------------------- HTTP itself
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
    ("/api/answer?q=", "empty"),
    ("/api/answer?q=ok&k=51", "k must"),
])
def test_bad_requests_get_a_4xx_with_a_json_error(fake_server, target, fragment):
    status, ctype, body = get(fake_server, target)
    assert 400 <= status < 500 and ctype.startswith("application/json")
    assert fragment in json.loads(body)["error"]


def test_a_fake_index_answers_through_the_api(fake_server, fake_searcher):
    status, _, body = get(fake_server, "/api/search?q=" + quote("随机森林") + "&k=2")
    assert status == 200 and json.loads(body) == [r.to_json() for r in fake_searcher.search("随机森林", 2)]
    assert json.loads(body)[0]["slug"] == "forest"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("target", ["/api/nothing", "/api/", "/api/searchx?q=a", "/api/search/more?q=a"])
def test_unknown_api_path_is_a_json_404(fake_server, method, target):
    status, headers, body = request(fake_server, method, target)
    assert status == 404 and headers["content-type"].startswith("application/json")
    if method == "GET":
        assert "no such API endpoint" in json.loads(body)["error"]
    else:
        assert body == b"" and int(headers["content-length"]) > 0


def test_the_built_site_is_served(fake_server):
    status, _, body = get(fake_server, "/")
    assert status == 200 and "知识库" in body.decode("utf-8")
    status, ctype, body = get(fake_server, "/_static/app.js")
    assert status == 200 and body == STATIC_JS and "javascript" in ctype


def test_a_missing_file_of_a_built_site_is_a_plain_404(fake_server):
    status, _, body = get(fake_server, "/no/such/page.html")
    assert status == 404 and b"not built" not in body


@pytest.mark.parametrize("target", ["/api/search?q=" + quote("随机森林 特征") + "&k=2", "/api/search?q=ok&k=0",
                                    "/healthz"])
def test_head_of_an_api_route_sends_the_get_headers_and_no_body(fake_server, target):
    g_status, g_headers, g_body = request(fake_server, "GET", target)
    h_status, h_headers, h_body = request(fake_server, "HEAD", target)
    assert h_status == g_status and h_body == b""
    assert h_headers["content-type"] == g_headers["content-type"] == "application/json; charset=utf-8"
    assert int(h_headers["content-length"]) == len(g_body) > 0
    head, rest = head_raw(fake_server, target)
    assert head.startswith(f"HTTP/1.1 {g_status} ".encode()) and rest == b""


def test_head_of_a_static_file_sends_its_headers_and_no_body(fake_server):
    status, headers, body = request(fake_server, "HEAD", "/_static/app.js")
    assert status == 200 and body == b"" and int(headers["content-length"]) == len(STATIC_JS)
    assert "javascript" in headers["content-type"] and "last-modified" in headers
    head, rest = head_raw(fake_server, "/_static/app.js")
    assert head.startswith(b"HTTP/1.1 200 ") and rest == b""


def test_post_is_a_json_405_that_names_the_allowed_methods(fake_server):
    status, headers, body = request(fake_server, "POST", "/api/search?q=a", body=b'{"q": "a"}')
    assert status == 405 and headers["content-type"].startswith("application/json")
    assert "GET /api/search" in json.loads(body)["error"]
    assert headers["allow"] == "GET, HEAD"


def test_a_post_body_is_never_read_as_a_second_request(fake_server):
    # The handler does not read POST bodies; on a kept-alive connection the
    # body's bytes would be parsed as the next request (here: a GET of /healthz).
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    resp = raw_exchange(fake_server, b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
    assert resp.startswith(b"HTTP/1.1 405 ") and resp.count(b"HTTP/1.1 ") == 1, resp
    assert b'"status": "ok"' not in resp


@pytest.mark.parametrize("target", ["/", "/index.html", "/book/articles/x.html"])
def test_a_site_that_is_not_built_gets_a_json_404_saying_so(unbuilt_server, target):
    status, ctype, body = get(unbuilt_server, target)
    assert status == 404 and ctype.startswith("application/json")
    error = json.loads(body)["error"]
    assert "not built" in error and "python -m search serve" in error
    status, headers, body = request(unbuilt_server, "HEAD", target)
    assert status == 404 and headers["content-type"].startswith("application/json") and body == b""


def test_the_api_still_answers_when_the_site_is_not_built(unbuilt_server):
    status, _, body = get(unbuilt_server, "/api/search?q=" + quote("感受野") + "&k=1")
    assert status == 200 and json.loads(body)[0]["slug"] == "rf"
    status, _, body = get(unbuilt_server, "/healthz")
    assert status == 200 and json.loads(body)["articles"] == 3


def test_a_client_hanging_up_mid_download_is_not_an_error(fake_searcher, tmp_path, capsys, monkeypatch):
    from search.server import Server

    finished = threading.Event()
    process_request = Server.process_request_thread

    def process_and_tell(self, request, client_address):  # the handler thread's whole life
        process_request(self, request, client_address)
        finished.set()

    monkeypatch.setattr(Server, "process_request_thread", process_and_tell)
    site = tmp_path / "html"
    site.mkdir()
    (site / "big.bin").write_bytes(b"\0" * (32 << 20))  # far more than the socket buffers hold
    with running_server(fake_searcher, site) as port:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        sock.close()
        assert finished.wait(timeout=60), "the handler never finished writing to a closed connection"
    err = capsys.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
