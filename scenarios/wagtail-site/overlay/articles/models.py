from django.db import models
from wagtail.admin.panels import FieldPanel
from wagtail.api import APIField
from wagtail.fields import RichTextField
from wagtail.models import Page


class ArticlePage(Page):
    """A news article with a lead photo."""

    intro = models.CharField(max_length=250, blank=True)
    body = RichTextField(blank=True)
    photo = models.ForeignKey("wagtailimages.Image", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    content_panels = Page.content_panels + [FieldPanel("intro"), FieldPanel("body"),
                                            FieldPanel("photo")]
    api_fields = [APIField("intro"), APIField("body"), APIField("photo")]
