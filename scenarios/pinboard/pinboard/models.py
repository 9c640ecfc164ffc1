from django.db import models


class Pin(models.Model):
    title = models.CharField(max_length=120)
    body = models.TextField(blank=True)
    published = models.BooleanField(default=True)
    created = models.DateTimeField()

    class Meta:
        ordering = ["-created", "id"]

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "body": self.body,
                "published": self.published, "created": self.created.isoformat()}
