"""Uploads: what the release step loaded and what a client uploads is kept and served at
MEDIA_URL."""


def test_the_loaded_photo_is_served_at_media_url(http):
    images = http.get("/api/v2/images/").json()
    assert images["meta"]["total_count"] == 1
    detail = http.get(f"/api/v2/images/{images['items'][0]['id']}/").json()
    url = detail["meta"]["download_url"]
    assert url.startswith("/media/original_images/lab-bench")
    original = http.get(url)
    assert original.status_code == 200
    assert original.content.startswith(b"\x89PNG")


def test_an_uploaded_document_is_served_at_media_url(http):
    sent = b"sample 7, spectrometer run 3: 0.42 absorbance\n"
    response = http.post("/api/uploads/", files={"file": ("run-3.txt", sent, "text/plain")},
                         data={"title": "Run 3"})
    assert response.status_code == 201
    uploaded = response.json()
    assert uploaded["file_url"].startswith("/media/documents/run-3")
    served = http.get(uploaded["file_url"])
    assert served.status_code == 200
    assert served.content == sent
    downloaded = http.get(uploaded["download_url"])
    assert downloaded.status_code == 200
    assert downloaded.content == sent


def test_an_upload_without_a_file_is_refused(http):
    response = http.post("/api/uploads/", data={"title": "nothing"})
    assert response.status_code == 400
    assert response.json() == {"error": "send the file as the multipart field 'file'"}
