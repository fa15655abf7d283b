"""One `APIRouter` per concern, gathered in the order the OpenAPI document lists them."""

from fastapi import APIRouter

from starter.gateway.routes import detections, health, remediations, report, slack, stripe

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(stripe.router)
api_router.include_router(slack.router)
api_router.include_router(detections.router)
api_router.include_router(remediations.router)
api_router.include_router(report.router)
